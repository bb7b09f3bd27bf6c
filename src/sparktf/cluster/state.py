"""What a cluster is and where it is recorded: its processes, and its state directory.

The state directory holds ``cluster.json`` (what was started), one ``.pid`` file and one
``.log`` file per daemon, and the workers' work directories (executor logs).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparktf.connect import CONNECT_CLASS
from sparktf.errors import SparkTFError

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
CONNECT_ROLE = "connect"  # the Spark Connect server (``start --connect``)
DIR_VAR = "SPARKTF_CLUSTER_DIR"  # the state directory, also in every process's environment
STATE_FILE = "cluster.json"
LOOPBACK = "127.0.0.1"


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


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/sparktf/cluster``, default ``~/.local/state/sparktf/cluster``."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "sparktf" / "cluster"


def state_path(state_dir: str | Path | None) -> Path:
    """The state directory ``state_dir`` names (absolute), or :func:`default_state_dir`."""
    return Path(state_dir).expanduser().resolve() if state_dir else default_state_dir()


def read_state(state_dir: Path) -> ClusterInfo | None:
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


def write_state(info: ClusterInfo) -> None:
    """Record ``info`` in its state directory's ``cluster.json``."""
    (info.state_dir / STATE_FILE).write_text(json.dumps(info.to_json(), indent=2) + "\n")


def forget(state_dir: Path, processes: Sequence[DaemonProcess]) -> None:
    """Remove the state file and the pid files of ``processes``: nothing runs any more."""
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    for p in processes:
        (state_dir / f"{p.role}.pid").unlink(missing_ok=True)


@contextlib.contextmanager
def locked(state_dir: Path) -> Iterator[None]:
    """Hold the state directory's lock: one start or stop at a time."""
    import fcntl

    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
