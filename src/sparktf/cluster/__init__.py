"""A Spark standalone cluster on this machine's loopback, for tests, benchmarks and trying things.

``start_cluster()`` starts a master and N workers from the Spark that pyspark ships
(``pyspark/bin/spark-class``), each in its own process group, and waits until the master lists N
ALIVE workers. Everything lives in a state directory: ``cluster.json`` (what was started), one
``.pid`` file and one ``.log`` file per daemon, and the workers' work directories (executor
logs). ``stop_cluster()`` ends exactly the processes that start started, and everything they
forked (executor JVMs, PySpark daemons and Python workers): it verifies every recorded pid
against its start time and command line, and finds descendants by a marker variable that every
process of the cluster inherits. Linux only (it reads ``/proc``).

Modules: ``spec`` (:class:`ClusterSpec`, what to start), ``state`` (the state directory and
what it records), ``processes`` (which processes are the cluster's, and ending them),
``launch`` (:func:`start_cluster`), ``control`` (status, stop, killing a worker,
:func:`standalone_cluster`).
"""

from sparktf.cluster.control import (
    ClusterStatus,
    StopResult,
    cluster_status,
    kill_worker,
    standalone_cluster,
    stop_cluster,
    wait_for_executors,
)
from sparktf.cluster.launch import start_cluster
from sparktf.cluster.processes import MARKER_VAR, cluster_processes, descendants
from sparktf.cluster.spec import ClusterSpec, parse_memory
from sparktf.cluster.state import (
    DIR_VAR,
    STATE_FILE,
    ClusterError,
    ClusterInfo,
    DaemonProcess,
    default_state_dir,
)

__all__ = [
    "DIR_VAR",
    "MARKER_VAR",
    "STATE_FILE",
    "ClusterError",
    "ClusterInfo",
    "ClusterSpec",
    "ClusterStatus",
    "DaemonProcess",
    "StopResult",
    "cluster_processes",
    "cluster_status",
    "default_state_dir",
    "descendants",
    "kill_worker",
    "parse_memory",
    "standalone_cluster",
    "start_cluster",
    "stop_cluster",
    "wait_for_executors",
]
