"""The processes of a cluster: which are still its own, and ending them all.

Every process of a cluster carries ``$SPARKTF_CLUSTER_ID``; a recorded daemon still counts as
the one that was started only while its start time and command line match. Linux only (it reads
``/proc``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from sparktf.cluster.state import DaemonProcess

MARKER_VAR = "SPARKTF_CLUSTER_ID"

# Popen objects of daemons started by this process: kept so that they are reaped, not zombies.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def adopt(proc: subprocess.Popen[bytes]) -> None:
    """Keep ``proc`` (a daemon this process started) until it is reaped."""
    _CHILDREN[proc.pid] = proc


def proc_stat(pid: int) -> tuple[str, int, int] | None:
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


def is_running(pid: int) -> bool:
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def is_ours(proc: DaemonProcess, cluster_id: str) -> bool:
    """True when ``proc.pid`` is still the very process start_cluster started."""
    st = proc_stat(proc.pid)
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
    return [p for p in _all_pids() if p != me and _has_marker(p, cluster_id) and is_running(p)]


def descendants(pid: int) -> list[int]:
    """Running processes forked by ``pid``, children first, then theirs (by ``/proc`` ppid)."""
    children: dict[int, list[int]] = {}
    for p in _all_pids():
        st = proc_stat(p)
        if st is not None and st[0] not in ("Z", "X"):
            children.setdefault(st[1], []).append(p)
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(0), []):
            found.append(child)
            todo.append(child)
    return found


def reap(pid: int) -> None:
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=0.1)
        if child.returncode is None:
            _CHILDREN[pid] = child


def terminate(
    cluster_id: str, daemons: Sequence[DaemonProcess] = (), grace: float = 10
) -> tuple[int, ...]:
    """SIGTERM the daemons' process groups and every process of the cluster, then SIGKILL."""
    targets = set(cluster_processes(cluster_id))
    for d in daemons:
        if is_ours(d, cluster_id) or (d.pid in _CHILDREN and is_running(d.pid)):
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
            reap(pid)
        if not any(is_running(p) for p in targets) and not cluster_processes(cluster_id):
            break
        time.sleep(0.1)
    for _ in range(50):  # what ignored SIGTERM, and whatever it forked meanwhile
        left = set(cluster_processes(cluster_id)) | {p for p in targets if is_running(p)}
        if not left:
            break
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
        for pid in list(_CHILDREN):
            reap(pid)
    return tuple(sorted(targets))
