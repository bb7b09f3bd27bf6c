"""A running cluster: its status, stopping it, and killing one worker (fault injection)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparktf.cluster.launch import alive_workers, master_json, start_cluster
from sparktf.cluster.processes import descendants, is_ours, is_running, reap, terminate
from sparktf.cluster.spec import ClusterSpec
from sparktf.cluster.state import (
    STATE_FILE,
    ClusterError,
    ClusterInfo,
    forget,
    locked,
    read_state,
    state_path,
)
from sparktf.errors import ConfigError


@dataclass(frozen=True)
class ClusterStatus:
    """What :func:`cluster_status` sees.

    Attributes:
        info: the cluster as started.
        alive: for each of ``info.processes``, whether it still runs.
        alive_workers: the number of ALIVE workers the master reports (``None`` when its web UI
            does not answer).
    """

    info: ClusterInfo
    alive: tuple[bool, ...]
    alive_workers: int | None

    @property
    def running(self) -> bool:
        """True while any process of the cluster runs."""
        return any(self.alive)

    @property
    def healthy(self) -> bool:
        """True when every daemon runs and the master sees every worker."""
        return all(self.alive) and self.alive_workers == self.info.workers


@dataclass(frozen=True)
class StopResult:
    """What :func:`stop_cluster` did.

    Attributes:
        info: the cluster that was recorded in the state directory (``None``: there was none).
        stopped: pids that were running and were ended (daemons and their descendants).
    """

    info: ClusterInfo | None
    stopped: tuple[int, ...]


def stop_cluster(state_dir: str | Path | None = None, grace: float = 10.0) -> StopResult:
    """Stop the cluster started from ``state_dir``, and everything it forked.

    Only processes that :func:`start_cluster` started are ended: a recorded pid counts only if
    its start time, command line and ``$SPARKTF_CLUSTER_ID`` still match; descendants are found
    by that marker. Logs and work directories stay until the next start.

    Args:
        state_dir: the state directory given to start (default :func:`default_state_dir`).
        grace: seconds between SIGTERM and SIGKILL.

    Returns:
        What was stopped; ``info`` is ``None`` when no cluster was recorded there.
    """
    sdir = state_path(state_dir)
    if not (sdir / STATE_FILE).is_file():
        return StopResult(None, ())
    with locked(sdir):
        info = read_state(sdir)
        if info is None:
            return StopResult(None, ())
        stopped = terminate(info.cluster_id, info.processes, grace)
        forget(sdir, info.processes)
    return StopResult(info, stopped)


def cluster_status(state_dir: str | Path | None = None) -> ClusterStatus | None:
    """The cluster recorded in ``state_dir`` and which of its processes run (``None``: none)."""
    info = read_state(state_path(state_dir))
    if info is None:
        return None
    alive = tuple(is_ours(p, info.cluster_id) for p in info.processes)
    workers = alive_workers(master_json(info.web_ui_url)) if alive[0] else None
    return ClusterStatus(info, alive, workers)


def kill_worker(info: ClusterInfo, index: int, sig: int = signal.SIGKILL) -> tuple[int, ...]:
    """Kill worker ``index`` (1-based) with its executors and their Python workers, at once.

    For fault-tolerance tests: the master and the other workers keep running, and
    :func:`stop_cluster` still cleans up afterwards.

    Args:
        info: the running cluster.
        index: which worker, 1 ... ``info.workers``.
        sig: the signal (SIGKILL: a machine that vanishes; SIGTERM: an orderly shutdown).

    Returns:
        The pids signalled: the worker JVM first, then everything it had forked.

    Raises:
        ConfigError: no such worker.
        ClusterError: that worker is not running any more.
    """
    if not 1 <= index <= info.workers:
        raise ConfigError(f"worker index must be 1 ... {info.workers}, got {index}")
    proc = info.processes[index]
    if not is_ours(proc, info.cluster_id):
        raise ClusterError(f"{proc.role} (pid {proc.pid}) of {info.master_url} is not running")
    victims = [proc.pid, *descendants(proc.pid)]
    for pid in victims:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(is_running(p) for p in victims):
        reap(proc.pid)
        time.sleep(0.05)
    return tuple(victims)


@contextlib.contextmanager
def standalone_cluster(spec: ClusterSpec | None = None, **settings: Any) -> Iterator[ClusterInfo]:
    """``with standalone_cluster(workers=2, state_dir=tmp) as c: session(c.master_url) ...``

    Starts a cluster like :func:`~sparktf.cluster.launch.start_cluster` (same arguments) and
    stops it, with every process it forked, when the block ends, also on error. Give each
    concurrent cluster its own ``state_dir``.
    """
    info = start_cluster(spec, **settings)
    try:
        yield info
    finally:
        stop_cluster(info.state_dir)


def wait_for_executors(spark: Any, n: int, timeout: float = 60.0) -> int:
    """Block until ``n`` executors have registered with ``spark``'s driver.

    Standalone executors register a few seconds after the application starts; a job run
    earlier lands on the first ones only.

    Args:
        spark: a SparkSession.
        n: executors to wait for.
        timeout: seconds.

    Returns:
        The number of registered executors.

    Raises:
        ClusterError: fewer than ``n`` after ``timeout`` seconds.
    """
    from sparktf.pyspark_compat import registered_executors
    from sparktf.spark import default_parallelism

    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        # A Connect session cannot list executors: it sees their cores (one each here).
        count = registered_executors(spark) or default_parallelism(spark)
        if count >= n:
            return count
        time.sleep(0.1)
    raise ClusterError(
        f"only {count} of {n} executors registered within {timeout:.0f}s; check the master's "
        "web UI for workers without enough free cores or memory (spark.executor.memory)"
    )
