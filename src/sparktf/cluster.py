"""A Spark standalone cluster on this machine's loopback, for tests, benchmarks and trying things.

``start_cluster()`` starts a master and N workers from the Spark that pyspark ships
(``pyspark/bin/spark-class``), each in its own process group, and waits until the master lists N
ALIVE workers. Everything lives in a state directory: ``cluster.json`` (what was started), one
``.pid`` file and one ``.log`` file per daemon, and the workers' work directories (executor
logs). ``stop_cluster()`` ends exactly the processes that start started, and everything they
forked (executor JVMs, PySpark daemons and Python workers): it verifies every recorded pid
against its start time and command line, and finds descendants by a marker variable that every
process of the cluster inherits. Linux only (it reads ``/proc``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparktf.connect import CONNECT_CLASS, connect_command, wait_connect_ready
from sparktf.errors import ConfigError, SparkTFError

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
CONNECT_ROLE = "connect"  # the Spark Connect server (``start --connect``)
MARKER_VAR = "SPARKTF_CLUSTER_ID"
DIR_VAR = "SPARKTF_CLUSTER_DIR"  # the state directory, also in every process's environment
STATE_FILE = "cluster.json"
LOOPBACK = "127.0.0.1"
_MEMORY_RE = re.compile(r"^([1-9]\d*)([mgt])b?$", re.IGNORECASE)
_MIN_MEMORY_MB = 512

# Popen objects of daemons started by this process: kept so that they are reaped, not zombies.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class ClusterError(SparkTFError):
    """The local standalone cluster could not be started, or is already running."""


@dataclass(frozen=True)
class DaemonProcess:
    """One process started by :func:`start_cluster`.

    Attributes:
        role: ``master`` or ``worker-1``, ``worker-2``, ...
        pid: its process id (also its process group id).
        start_ticks: its start time in clock ticks since boot (``/proc/PID/stat``), which tells
            it apart from a later process that reuses the pid.
        log: the file its stdout and stderr go to.
        web_ui_url: its web UI.
    """

    role: str
    pid: int
    start_ticks: int
    log: Path
    web_ui_url: str

    @property
    def main_class(self) -> str:
        """The Spark class this process runs."""
        if self.role == CONNECT_ROLE:
            return CONNECT_CLASS
        return MASTER_CLASS if self.role == "master" else WORKER_CLASS


@dataclass(frozen=True)
class ClusterInfo:
    """A running local standalone cluster.

    Attributes:
        master_url: ``spark://127.0.0.1:PORT``, for ``--master`` or ``session()``.
        web_ui_url: the master's web UI (``/json/`` answers its state as JSON).
        state_dir: where ``cluster.json``, pid files, logs and work directories are.
        workers: number of workers.
        cores: cores offered by each worker.
        memory: memory offered by each worker (``2g``).
        gpus: GPUs offered by each worker (0: none).
        cluster_id: the marker every process of this cluster carries in ``$SPARKTF_CLUSTER_ID``.
        processes: the master, then the workers, then the Connect server if any.
    """

    master_url: str
    web_ui_url: str
    state_dir: Path
    workers: int
    cores: int
    memory: str
    gpus: int
    cluster_id: str
    processes: tuple[DaemonProcess, ...]

    @property
    def master_pid(self) -> int:
        """Pid of the master JVM."""
        return self.processes[0].pid

    @property
    def worker_pids(self) -> tuple[int, ...]:
        """Pids of the worker JVMs, in order."""
        return tuple(p.pid for p in self.processes[1:] if p.role.startswith("worker-"))

    @property
    def connect_url(self) -> str | None:
        """The Spark Connect server's ``sc://127.0.0.1:PORT`` (``None``: started without it)."""
        return next((p.web_ui_url for p in self.processes if p.role == CONNECT_ROLE), None)

    @property
    def pids(self) -> tuple[int, ...]:
        """Pids of every daemon (master first)."""
        return tuple(p.pid for p in self.processes)

    @property
    def master_log(self) -> Path:
        """The master's log file."""
        return self.processes[0].log

    @property
    def worker_logs(self) -> tuple[Path, ...]:
        """The workers' log files (executor logs are under ``state_dir/work``)."""
        return tuple(p.log for p in self.processes[1:])

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable form (what ``cluster.json`` holds)."""
        return {
            "master_url": self.master_url,
            "web_ui_url": self.web_ui_url,
            "state_dir": str(self.state_dir),
            "workers": self.workers,
            "cores": self.cores,
            "memory": self.memory,
            "gpus": self.gpus,
            "cluster_id": self.cluster_id,
            "processes": [
                {
                    "role": p.role,
                    "pid": p.pid,
                    "start_ticks": p.start_ticks,
                    "log": str(p.log),
                    "web_ui_url": p.web_ui_url,
                }
                for p in self.processes
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClusterInfo:
        """Read back :meth:`to_json`."""
        return cls(
            master_url=data["master_url"],
            web_ui_url=data["web_ui_url"],
            state_dir=Path(data["state_dir"]),
            workers=int(data["workers"]),
            cores=int(data["cores"]),
            memory=str(data["memory"]),
            gpus=int(data.get("gpus", 0)),
            cluster_id=str(data["cluster_id"]),
            processes=tuple(
                DaemonProcess(
                    role=p["role"],
                    pid=int(p["pid"]),
                    start_ticks=int(p["start_ticks"]),
                    log=Path(p["log"]),
                    web_ui_url=p["web_ui_url"],
                )
                for p in data["processes"]
            ),
        )


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


# --------------------------------------------------------------------------- validation


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/sparktf/cluster``, default ``~/.local/state/sparktf/cluster``."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "sparktf" / "cluster"


def parse_memory(memory: str) -> str:
    """Check a worker memory size and return it normalised (``"2G"`` -> ``"2g"``).

    Args:
        memory: a size with a unit: ``512m``, ``2g``, ``1t`` (``mb``/``gb``/``tb`` also work).

    Returns:
        The size as Spark writes it, e.g. ``2g``.

    Raises:
        ConfigError: not a size with a unit, or less than 512m (an executor needs ~450 MiB).
    """
    m = _MEMORY_RE.match(str(memory).strip())
    if not m:
        raise ConfigError(
            f"invalid worker memory {memory!r}: expected a number with a unit m, g or t, "
            "such as 512m, 2g or 1t (e.g. --memory 2g)"
        )
    amount, unit = int(m.group(1)), m.group(2).lower()
    mb = amount * {"m": 1, "g": 1024, "t": 1024 * 1024}[unit]
    if mb < _MIN_MEMORY_MB:
        raise ConfigError(
            f"worker memory {memory!r} is too small: a Spark executor needs at least "
            f"{_MIN_MEMORY_MB}m (e.g. --memory 2g)"
        )
    return f"{amount}{unit}"


def _check_counts(workers: int, cores: int, gpus: int) -> None:
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"the number of workers must be at least 1, got {workers!r}")
    if not isinstance(cores, int) or cores < 1:
        raise ConfigError(f"the cores per worker must be at least 1, got {cores!r}")
    if not isinstance(gpus, int) or gpus < 0:
        raise ConfigError(f"the GPUs per worker must be 0 or more, got {gpus!r}")


# --------------------------------------------------------------------------- /proc helpers


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start_ticks) of a process, or None when there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = text[text.rfind(")") + 2 :].split()
    return rest[0], int(rest[1]), int(rest[19])


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _has_marker(pid: int, cluster_id: str) -> bool:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:  # gone, or another user's process
        return False
    return f"{MARKER_VAR}={cluster_id}".encode() in raw.split(b"\0")


def _running(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def _is_ours(proc: DaemonProcess, cluster_id: str) -> bool:
    """True when ``proc.pid`` is still the very process start_cluster started."""
    st = _stat(proc.pid)
    if st is None or st[0] in ("Z", "X") or st[2] != proc.start_ticks:
        return False
    return proc.main_class in _cmdline(proc.pid) and _has_marker(proc.pid, cluster_id)


def _all_pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def cluster_processes(cluster_id: str) -> list[int]:
    """Pids of every running process that belongs to the cluster ``cluster_id``.

    That is every process carrying ``$SPARKTF_CLUSTER_ID=cluster_id``: the daemons, the
    executor JVMs they forked, and the PySpark daemons and Python workers of those executors.
    """
    me = os.getpid()
    return [p for p in _all_pids() if p != me and _has_marker(p, cluster_id) and _running(p)]


def _reap(pid: int) -> None:
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=0.1)
        if child.returncode is None:
            _CHILDREN[pid] = child


# --------------------------------------------------------------------------- start


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def _read_state(state_dir: Path) -> ClusterInfo | None:
    path = state_dir / STATE_FILE
    if not path.is_file():
        return None
    try:
        return ClusterInfo.from_json(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise ClusterError(
            f"the cluster state file {path} is unreadable ({exc}); if no cluster runs, "
            "delete it and start again"
        ) from exc


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    import fcntl

    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"  ({path}: no log)"
    return "\n".join(f"  | {line}" for line in text[-lines:]) or f"  ({path}: empty)"


_NVIDIA_DISCOVERY = """#!/usr/bin/env bash
# Spark resource discovery for worker {index} of a sparktf cluster: GPUs {first}..{last} of
# this machine (nvidia-smi numbering), as {{"name": "gpu", "addresses": [...]}}.
set -euo pipefail
ADDRS=$(nvidia-smi --query-gpu=index --format=csv,noheader | sed -n '{first_line},{last_line}p' \\
  | sed -e 's/^ *//' -e 's/ *$//' -e 's/.*/"&"/' | paste -sd, -)
echo "{{\\"name\\": \\"gpu\\", \\"addresses\\": [$ADDRS]}}"
"""


def _check_script(script: str) -> str:
    path = Path(script).expanduser().resolve()
    if not path.is_file() or not os.access(path, os.X_OK):
        raise ConfigError(
            f"GPU discovery script {script!r} is not an executable file; it must print "
            '{"name": "gpu", "addresses": ["0", "1"]} (chmod +x it)'
        )
    return str(path)


def _discovery_script(state_dir: Path, index: int, gpus: int, user_script: str | None) -> str:
    if user_script is not None:
        return user_script
    first = (index - 1) * gpus
    script = state_dir / f"gpu-discovery-{index}.sh"
    script.write_text(
        _NVIDIA_DISCOVERY.format(
            index=index,
            first=first,
            last=first + gpus - 1,
            first_line=first + 1,
            last_line=first + gpus,
        )
    )
    script.chmod(0o755)
    return str(script)


def _launch(
    role: str,
    args: list[str],
    env: dict[str, str],
    log: Path,
    web_ui_url: str,
) -> DaemonProcess:
    spark_class = _spark_home() / "bin" / "spark-class"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["bash", str(spark_class), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # own process group: stop kills the group; ^C does not
        )
    _CHILDREN[proc.pid] = proc
    st = _stat(proc.pid)
    (log.parent.parent / f"{role}.pid").write_text(f"{proc.pid}\n")
    return DaemonProcess(role, proc.pid, st[2] if st else 0, log, web_ui_url)


def _master_json(web_ui_url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{web_ui_url}/json/", timeout=timeout) as resp:
            data: dict[str, Any] = json.loads(resp.read().decode())
            return data
    except (OSError, ValueError, urllib.error.URLError):
        return None


def _alive_workers(data: dict[str, Any] | None) -> int | None:
    if data is None:
        return None
    return sum(1 for w in data.get("workers", []) if w.get("state") == "ALIVE")


def start_cluster(
    workers: int = 2,
    cores: int = 1,
    memory: str = "2g",
    state_dir: str | Path | None = None,
    gpus: int = 0,
    gpu_discovery_script: str | None = None,
    timeout: float = 90.0,
    connect: bool = False,
) -> ClusterInfo:
    """Start a Spark standalone cluster (one master, ``workers`` workers) on 127.0.0.1.

    Args:
        workers: number of worker processes.
        cores: cores each worker offers.
        memory: memory each worker offers (``2g``); each executor takes
            ``spark.executor.memory`` (1g by default) of it.
        state_dir: where pid files, logs and work directories go; default
            :func:`default_state_dir`.
        gpus: GPUs each worker offers (``spark.worker.resource.gpu.amount``).
        gpu_discovery_script: the script that lists them; default: one per worker that gives
            worker i the GPUs ``(i-1)*gpus ... i*gpus-1`` of ``nvidia-smi``.
        timeout: seconds to wait for the master to list every worker ALIVE (and for the
            Connect server to listen).
        connect: also start a Spark Connect server on the cluster (``connect_url``).

    Returns:
        The running cluster.

    Raises:
        ConfigError: bad counts, memory or script.
        ClusterError: a cluster already runs from this state directory, or the cluster did not
            come up in time (the message carries the tail of the logs).
        JavaNotFoundError: no Java runtime.
    """
    from sparktf.spark import find_java

    _check_counts(workers, cores, gpus)
    memory = parse_memory(memory)
    if gpu_discovery_script is not None:
        if gpus == 0:
            raise ConfigError("a GPU discovery script was given with gpus=0; also pass --gpus N")
        gpu_discovery_script = _check_script(gpu_discovery_script)
    if not Path("/proc/self/stat").exists():
        raise ClusterError("sparktf cluster needs Linux (/proc) to track its processes")
    sdir = Path(state_dir).expanduser().resolve() if state_dir else default_state_dir()
    java = find_java()
    with _locked(sdir):
        old = _read_state(sdir)
        if old is not None:
            running = [p for p in old.processes if _is_ours(p, old.cluster_id)]
            if running:
                raise ClusterError(
                    f"a sparktf cluster is already running from {sdir}: master "
                    f"{old.master_url} (web UI {old.web_ui_url}, {len(running)} of "
                    f"{len(old.processes)} processes alive). Use it with --master "
                    f"{old.master_url}, or stop it first: sparktf cluster stop"
                    + (f" --state-dir {sdir}" if state_dir else "")
                )
            _kill_leftovers(old.cluster_id)
        # A fresh start: the logs and work directories of the previous run go.
        for name in ("logs", "work"):
            _rmtree(sdir / name)
        for stale in sdir.glob("*.pid"):
            stale.unlink()
        (sdir / STATE_FILE).unlink(missing_ok=True)
        (sdir / "logs").mkdir(parents=True)
        (sdir / "work").mkdir()

        cluster_id = uuid.uuid4().hex
        env = dict(os.environ)
        env.update(
            {
                "JAVA_HOME": str(java.home),
                "SPARK_HOME": str(_spark_home()),
                "SPARK_LOCAL_IP": LOOPBACK,  # RPC, web UIs and executors bind to loopback only
                "PYSPARK_PYTHON": sys.executable,  # executors' Python workers import sparktf
                MARKER_VAR: cluster_id,
                DIR_VAR: str(sdir),
            }
        )
        env.pop("SPARK_MASTER", None)
        master_env = dict(env)
        # No REST submission server (it would want port 6066 in every cluster).
        master_env["SPARK_MASTER_OPTS"] = (
            f"{env.get('SPARK_MASTER_OPTS', '')} -Dspark.master.rest.enabled=false".strip()
        )
        port, ui_port = _free_port(), _free_port()
        master_url = f"spark://{LOOPBACK}:{port}"
        web_ui_url = f"http://{LOOPBACK}:{ui_port}"
        procs: list[DaemonProcess] = []

        def record() -> ClusterInfo:
            # Written after every launch, so that a start killed half-way can still be stopped.
            info = ClusterInfo(
                master_url=master_url,
                web_ui_url=web_ui_url,
                state_dir=sdir,
                workers=workers,
                cores=cores,
                memory=memory,
                gpus=gpus,
                cluster_id=cluster_id,
                processes=tuple(procs),
            )
            (sdir / STATE_FILE).write_text(json.dumps(info.to_json(), indent=2) + "\n")
            return info

        try:
            procs.append(
                _launch(
                    "master",
                    [
                        MASTER_CLASS,
                        "--host",
                        LOOPBACK,
                        "--port",
                        str(port),
                        "--webui-port",
                        str(ui_port),
                    ],
                    master_env,
                    sdir / "logs" / "master.log",
                    web_ui_url,
                )
            )
            record()
            # Workers that reach a master still in STANDBY retry only 5-15 s later: start
            # them once the master is ALIVE.
            _wait_master_alive(procs[0], timeout)
            for i in range(1, workers + 1):
                wenv = dict(env)
                if gpus:
                    script = _discovery_script(sdir, i, gpus, gpu_discovery_script)
                    opts = (
                        f"-Dspark.worker.resource.gpu.amount={gpus} "
                        f"-Dspark.worker.resource.gpu.discoveryScript={script}"
                    )
                    wenv["SPARK_WORKER_OPTS"] = f"{env.get('SPARK_WORKER_OPTS', '')} {opts}".strip()
                wui = _free_port()
                work = sdir / "work" / f"worker-{i}"
                work.mkdir()
                procs.append(
                    _launch(
                        f"worker-{i}",
                        [
                            WORKER_CLASS,
                            "--host",
                            LOOPBACK,
                            "--cores",
                            str(cores),
                            "--memory",
                            memory,
                            "--webui-port",
                            str(wui),
                            "--work-dir",
                            str(work),
                            master_url,
                        ],
                        wenv,
                        sdir / "logs" / f"worker-{i}.log",
                        f"http://{LOOPBACK}:{wui}",
                    )
                )
                record()
            info = record()
            _wait_ready(info, timeout)
            if connect:
                procs.append(_launch_connect(master_url, env, sdir, timeout))
                info = record()
        except BaseException:
            _kill_leftovers(cluster_id, procs)
            (sdir / STATE_FILE).unlink(missing_ok=True)
            for p in procs:
                (sdir / f"{p.role}.pid").unlink(missing_ok=True)
            raise
    return info


def _launch_connect(
    master_url: str, env: dict[str, str], sdir: Path, timeout: float
) -> DaemonProcess:
    """Start a Spark Connect server for the cluster and wait until it listens."""
    port = _free_port()
    log = sdir / "logs" / "connect.log"
    # Hold the first jobs until every worker's executor has registered (they are all known).
    conf = {"spark.scheduler.minRegisteredResourcesRatio": "1.0"}
    proc = _launch(
        CONNECT_ROLE, connect_command(master_url, port, conf), env, log, f"sc://{LOOPBACK}:{port}"
    )
    wait_connect_ready(port, lambda: _running(proc.pid), log, timeout)
    return proc


def _wait_master_alive(master: DaemonProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _running(master.pid):
            raise ClusterError(
                f"the Spark master exited while starting; the end of {master.log}:\n"
                f"{_tail(master.log)}"
            )
        data = _master_json(master.web_ui_url, timeout=1.0)
        if data is not None and data.get("status") == "ALIVE":
            return
        time.sleep(0.1)
    raise ClusterError(
        f"the Spark master did not answer at {master.web_ui_url} within {timeout:.0f}s; the end "
        f"of {master.log}:\n{_tail(master.log)}"
    )


def _wait_ready(info: ClusterInfo, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    alive: int | None = None
    while time.monotonic() < deadline:
        dead = [p for p in info.processes if not _running(p.pid)]
        if dead:
            raise ClusterError(
                f"the Spark {dead[0].role} exited while the cluster was starting; "
                f"the end of {dead[0].log}:\n{_tail(dead[0].log)}"
            )
        alive = _alive_workers(_master_json(info.web_ui_url, timeout=1.0))
        if alive == info.workers:
            return
        time.sleep(0.2)
    logs = "\n".join(f"{p.log}:\n{_tail(p.log, 8)}" for p in info.processes)
    raise ClusterError(
        f"the cluster did not come up within {timeout:.0f}s: the master at {info.web_ui_url} "
        f"lists {alive if alive is not None else 'no answer /'} of {info.workers} workers ALIVE. "
        f"The logs end with:\n{logs}\n"
        "Try a longer --timeout on a busy machine, or check the Java setup in the logs."
    )


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- stop


def _kill_leftovers(
    cluster_id: str, daemons: Sequence[DaemonProcess] = (), grace: float = 10
) -> tuple[int, ...]:
    """SIGTERM the daemons' process groups and every process of the cluster, then SIGKILL."""
    targets = set(cluster_processes(cluster_id))
    for d in daemons:
        if _is_ours(d, cluster_id) or (d.pid in _CHILDREN and _running(d.pid)):
            targets.add(d.pid)
    if not targets:
        return ()
    # Workers first (they end their executors), then the master.
    for d in reversed(list(daemons)):
        if d.pid in targets:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(d.pid, signal.SIGTERM)
    for pid in targets:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        for pid in list(_CHILDREN):
            _reap(pid)
        if not any(_running(p) for p in targets) and not cluster_processes(cluster_id):
            break
        time.sleep(0.1)
    for _ in range(50):  # what ignored SIGTERM, and whatever it forked meanwhile
        left = set(cluster_processes(cluster_id)) | {p for p in targets if _running(p)}
        if not left:
            break
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
        for pid in list(_CHILDREN):
            _reap(pid)
    return tuple(sorted(targets))


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
    sdir = Path(state_dir).expanduser().resolve() if state_dir else default_state_dir()
    if not (sdir / STATE_FILE).is_file():
        return StopResult(None, ())
    with _locked(sdir):
        info = _read_state(sdir)
        if info is None:
            return StopResult(None, ())
        stopped = _kill_leftovers(info.cluster_id, info.processes, grace)
        (sdir / STATE_FILE).unlink(missing_ok=True)
        for p in info.processes:
            (sdir / f"{p.role}.pid").unlink(missing_ok=True)
    return StopResult(info, stopped)


def cluster_status(state_dir: str | Path | None = None) -> ClusterStatus | None:
    """The cluster recorded in ``state_dir`` and which of its processes run (``None``: none)."""
    sdir = Path(state_dir).expanduser().resolve() if state_dir else default_state_dir()
    info = _read_state(sdir)
    if info is None:
        return None
    alive = tuple(_is_ours(p, info.cluster_id) for p in info.processes)
    workers = _alive_workers(_master_json(info.web_ui_url)) if alive[0] else None
    return ClusterStatus(info, alive, workers)


def descendants(pid: int) -> list[int]:
    """Running processes forked by ``pid``, children first, then theirs (by ``/proc`` ppid)."""
    children: dict[int, list[int]] = {}
    for p in _all_pids():
        st = _stat(p)
        if st is not None and st[0] not in ("Z", "X"):
            children.setdefault(st[1], []).append(p)
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(0), []):
            found.append(child)
            todo.append(child)
    return found


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
    if not _is_ours(proc, info.cluster_id):
        raise ClusterError(f"{proc.role} (pid {proc.pid}) of {info.master_url} is not running")
    victims = [proc.pid, *descendants(proc.pid)]
    for pid in victims:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_running(p) for p in victims):
        _reap(proc.pid)
        time.sleep(0.05)
    return tuple(victims)


@contextlib.contextmanager
def standalone_cluster(
    workers: int = 2,
    cores: int = 1,
    memory: str = "2g",
    state_dir: str | Path | None = None,
    gpus: int = 0,
    gpu_discovery_script: str | None = None,
    timeout: float = 90.0,
    connect: bool = False,
) -> Iterator[ClusterInfo]:
    """``with standalone_cluster(workers=2, state_dir=tmp) as c: session(c.master_url) ...``

    Starts a cluster like :func:`start_cluster` (same arguments) and stops it, with every
    process it forked, when the block ends, also on error. Give each concurrent cluster its own
    ``state_dir``.
    """
    info = start_cluster(
        workers, cores, memory, state_dir, gpus, gpu_discovery_script, timeout, connect
    )
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
