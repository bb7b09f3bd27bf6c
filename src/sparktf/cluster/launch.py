"""Starting a cluster: the master, then the workers once it is ALIVE, then a Connect server.

Each daemon runs from the Spark that pyspark ships (``pyspark/bin/spark-class``) in its own
process group, and is recorded in the state file as soon as it is launched, so that a start
killed half-way can still be stopped.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from sparktf.cluster.processes import MARKER_VAR, adopt, is_ours, is_running, proc_stat, terminate
from sparktf.cluster.spec import ClusterSpec
from sparktf.cluster.state import (
    CONNECT_ROLE,
    DIR_VAR,
    LOOPBACK,
    MASTER_CLASS,
    STATE_FILE,
    WORKER_CLASS,
    ClusterError,
    ClusterInfo,
    DaemonProcess,
    forget,
    locked,
    read_state,
    write_state,
)
from sparktf.connect import connect_command, spark_home, wait_connect_ready


def start_cluster(spec: ClusterSpec | None = None, **settings: Any) -> ClusterInfo:
    """Start a Spark standalone cluster (one master, ``workers`` workers) on 127.0.0.1.

    Args:
        spec: what to start (default: a :class:`ClusterSpec` of ``settings``).
        **settings: :class:`ClusterSpec` fields, e.g. ``workers=2, state_dir=tmp``; with
            ``spec``, they change it.

    Returns:
        The running cluster.

    Raises:
        ConfigError: bad counts, memory or script.
        ClusterError: a cluster already runs from this state directory, or the cluster did not
            come up in time (the message carries the tail of the logs).
        JavaNotFoundError: no Java runtime.
    """
    from sparktf.spark import find_java

    spec = ClusterSpec.of(spec, settings)
    if not Path("/proc/self/stat").exists():
        raise ClusterError("sparktf cluster needs Linux (/proc) to track its processes")
    sdir = spec.directory
    java = find_java()
    with locked(sdir):
        _refuse_running(spec, sdir)
        _reset(sdir)
        return _Start(spec, sdir, java.home).run()


def _refuse_running(spec: ClusterSpec, sdir: Path) -> None:
    """Refuse when a cluster from ``sdir`` still runs; end what is left of an earlier one."""
    old = read_state(sdir)
    if old is None:
        return
    running = [p for p in old.processes if is_ours(p, old.cluster_id)]
    if running:
        raise ClusterError(
            f"a sparktf cluster is already running from {sdir}: master "
            f"{old.master_url} (web UI {old.web_ui_url}, {len(running)} of "
            f"{len(old.processes)} processes alive). Use it with --master "
            f"{old.master_url}, or stop it first: sparktf cluster stop"
            + (f" --state-dir {sdir}" if spec.state_dir else "")
        )
    terminate(old.cluster_id)


def _reset(sdir: Path) -> None:
    """A fresh start: the logs, work directories and records of the previous run go."""
    for name in ("logs", "work"):
        _rmtree(sdir / name)
    for stale in sdir.glob("*.pid"):
        stale.unlink()
    (sdir / STATE_FILE).unlink(missing_ok=True)
    (sdir / "logs").mkdir(parents=True)
    (sdir / "work").mkdir()


def _environment(java_home: Path, sdir: Path, cluster_id: str) -> dict[str, str]:
    """The environment every daemon of the cluster starts with."""
    env = dict(os.environ)
    env.update(
        {
            "JAVA_HOME": str(java_home),
            "SPARK_HOME": str(spark_home()),
            "SPARK_LOCAL_IP": LOOPBACK,  # RPC, web UIs and executors bind to loopback only
            "PYSPARK_PYTHON": sys.executable,  # executors' Python workers import sparktf
            MARKER_VAR: cluster_id,
            DIR_VAR: str(sdir),
        }
    )
    env.pop("SPARK_MASTER", None)
    return env


class _Start:
    """One start of a cluster: its daemons, launched one by one and recorded as they go."""

    def __init__(self, spec: ClusterSpec, sdir: Path, java_home: Path) -> None:
        self.spec, self.sdir = spec, sdir
        self.cluster_id = uuid.uuid4().hex
        self.env = _environment(java_home, sdir, self.cluster_id)
        self.port, self.ui_port = _free_port(), _free_port()
        self.master_url = f"spark://{LOOPBACK}:{self.port}"
        self.web_ui_url = f"http://{LOOPBACK}:{self.ui_port}"
        self.procs: list[DaemonProcess] = []

    def run(self) -> ClusterInfo:
        """Launch the master, the workers once it is ALIVE, and the Connect server once the
        master lists every worker; on any failure, end what was started and raise."""
        timeout = self.spec.timeout
        try:
            master = self._add(self._master()).processes[0]
            # Workers that reach a master still in STANDBY retry only 5-15 s later: start
            # them once the master is ALIVE.
            _wait_master_alive(master, timeout)
            for i in range(1, self.spec.workers + 1):
                info = self._add(self._worker(i))
            _wait_ready(info, timeout)
            if self.spec.connect:
                cores = self.spec.workers * self.spec.cores
                info = self._add(
                    _launch_connect(self.master_url, cores, self.env, self.sdir, timeout)
                )
        except BaseException:
            terminate(self.cluster_id, self.procs)
            forget(self.sdir, self.procs)
            raise
        return info

    def _add(self, proc: DaemonProcess) -> ClusterInfo:
        """The cluster with ``proc``, written to the state file at once."""
        self.procs.append(proc)
        info = ClusterInfo(
            master_url=self.master_url,
            web_ui_url=self.web_ui_url,
            state_dir=self.sdir,
            workers=self.spec.workers,
            cores=self.spec.cores,
            memory=self.spec.memory,
            gpus=self.spec.gpus,
            cluster_id=self.cluster_id,
            processes=tuple(self.procs),
        )
        write_state(info)
        return info

    def _master(self) -> DaemonProcess:
        env = dict(self.env)
        # No REST submission server (it would want port 6066 in every cluster).
        env["SPARK_MASTER_OPTS"] = (
            f"{self.env.get('SPARK_MASTER_OPTS', '')} -Dspark.master.rest.enabled=false".strip()
        )
        args = [MASTER_CLASS, "--host", LOOPBACK, "--port", str(self.port)]
        args += ["--webui-port", str(self.ui_port)]
        return _launch("master", args, env, self.sdir / "logs" / "master.log", self.web_ui_url)

    def _worker(self, i: int) -> DaemonProcess:
        spec, env = self.spec, dict(self.env)
        if spec.gpus:
            script = _discovery_script(self.sdir, i, spec.gpus, spec.gpu_discovery_script)
            opts = (
                f"-Dspark.worker.resource.gpu.amount={spec.gpus} "
                f"-Dspark.worker.resource.gpu.discoveryScript={script}"
            )
            env["SPARK_WORKER_OPTS"] = f"{self.env.get('SPARK_WORKER_OPTS', '')} {opts}".strip()
        wui = _free_port()
        work = self.sdir / "work" / f"worker-{i}"
        work.mkdir()
        args = [WORKER_CLASS, "--host", LOOPBACK, "--cores", str(spec.cores)]
        args += ["--memory", spec.memory, "--webui-port", str(wui), "--work-dir", str(work)]
        log = self.sdir / "logs" / f"worker-{i}.log"
        return _launch(
            f"worker-{i}", [*args, self.master_url], env, log, f"http://{LOOPBACK}:{wui}"
        )


def _launch_connect(
    master_url: str, cores: int, env: dict[str, str], sdir: Path, timeout: float
) -> DaemonProcess:
    """Start a Spark Connect server for the cluster (all of its ``cores``) and wait until it
    listens."""
    port = _free_port()
    log = sdir / "logs" / "connect.log"
    # Hold the first jobs until every worker's executor has registered (up to ``timeout``): a
    # standalone application waits for a ratio of spark.cores.max, so without it nothing waits
    # and the first trials all run on the worker whose executor happened to start first.
    conf = {
        "spark.cores.max": str(cores),
        "spark.scheduler.minRegisteredResourcesRatio": "1.0",
        "spark.scheduler.maxRegisteredResourcesWaitingTime": f"{max(1, int(timeout))}s",
    }
    proc = _launch(
        CONNECT_ROLE, connect_command(master_url, port, conf), env, log, f"sc://{LOOPBACK}:{port}"
    )
    wait_connect_ready(port, lambda: is_running(proc.pid), log, timeout)
    return proc


def _wait_master_alive(master: DaemonProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(master.pid):
            raise ClusterError(
                f"the Spark master exited while starting; the end of {master.log}:\n"
                f"{_tail(master.log)}"
            )
        data = master_json(master.web_ui_url, timeout=1.0)
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
        dead = [p for p in info.processes if not is_running(p.pid)]
        if dead:
            raise ClusterError(
                f"the Spark {dead[0].role} exited while the cluster was starting; "
                f"the end of {dead[0].log}:\n{_tail(dead[0].log)}"
            )
        alive = alive_workers(master_json(info.web_ui_url, timeout=1.0))
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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


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
    spark_class = spark_home() / "bin" / "spark-class"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["bash", str(spark_class), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # own process group: stop kills the group; ^C does not
        )
    adopt(proc)
    st = proc_stat(proc.pid)
    (log.parent.parent / f"{role}.pid").write_text(f"{proc.pid}\n")
    return DaemonProcess(role, proc.pid, st[2] if st else 0, log, web_ui_url)


def master_json(web_ui_url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{web_ui_url}/json/", timeout=timeout) as resp:
            data: dict[str, Any] = json.loads(resp.read().decode())
            return data
    except (OSError, ValueError, urllib.error.URLError):
        return None


def alive_workers(data: dict[str, Any] | None) -> int | None:
    if data is None:
        return None
    return sum(1 for w in data.get("workers", []) if w.get("state") == "ALIVE")
