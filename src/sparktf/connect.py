"""A Spark Connect server from the Spark that pyspark ships, for a cluster, tests and benchmarks.

``connect_command(master, port)`` is the command line (``spark-class`` running ``SparkSubmit``
with Spark's ``SparkConnectServer``, as ``sbin/start-connect-server.sh`` does, in the
foreground); ``wait_connect_ready`` waits until its gRPC port answers. ``local_connect_server``
runs one on ``local[N]`` for the length of a ``with`` block: the Connect pass of the test suite
and the benchmarks use it. ``sparktf cluster start --connect`` starts one on its standalone
cluster (see :mod:`sparktf.cluster`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sparktf.errors import SparkTFError

CONNECT_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
SUBMIT_CLASS = "org.apache.spark.deploy.SparkSubmit"
HOST = "127.0.0.1"


class ConnectServerError(SparkTFError):
    """The Spark Connect server did not start."""


def spark_home() -> Path:
    """The Spark that pyspark ships (its ``bin/`` and ``jars/``)."""
    import pyspark

    return Path(pyspark.__file__).parent


def connect_command(master: str, port: int, conf: dict[str, str] | None = None) -> list[str]:
    """The ``spark-class`` arguments of a Connect server on ``HOST:port`` for ``master``."""
    from sparktf.spark import quiet_log_options

    settings = {
        "spark.connect.grpc.binding.address": HOST,
        "spark.connect.grpc.binding.port": str(port),
        "spark.python.worker.reuse": "true",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
        **quiet_log_options(),
        **(conf or {}),
    }
    args = [SUBMIT_CLASS, "--class", CONNECT_CLASS, "--name", "sparktf Connect server"]
    args += ["--master", master]
    for key, value in settings.items():
        args += ["--conf", f"{key}={value}"]
    return [*args, "spark-internal"]


def connect_env(python: str | None = None) -> dict[str, str]:
    """The server's environment: Java, this Spark, and Python workers running ``python``
    (default: this Python, which has sparktf)."""
    from sparktf.spark import find_java

    env = dict(os.environ)
    env.update(
        {
            "JAVA_HOME": str(find_java().home),
            "SPARK_HOME": str(spark_home()),
            "PYSPARK_PYTHON": python or sys.executable,  # executors' Python workers
        }
    )
    for var in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "SPARK_MASTER"):
        env.pop(var, None)
    return env


def wait_connect_ready(port: int, alive: Callable[[], bool], log: Path, timeout: float) -> None:
    """Wait until the server's gRPC port accepts connections.

    Raises:
        ConnectServerError: the server exited, or did not listen within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise ConnectServerError(
                f"the Spark Connect server exited while starting; the end of {log}:\n{_tail(log)}"
            )
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return
        time.sleep(0.2)
    raise ConnectServerError(
        f"the Spark Connect server did not listen on {HOST}:{port} within {timeout:.0f}s; "
        f"the end of {log}:\n{_tail(log)}"
    )


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_client_session() -> None:
    """Stop this thread's Spark Connect session, if it has one: its client, then (for
    ``--remote local[N]``) the server that pyspark started in this process."""
    from sparktf.spark import client_session

    active = client_session()
    if active is not None:
        with contextlib.suppress(Exception):
            active.stop()


def free_port() -> int:
    """A TCP port free on the loopback now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def local_connect_server(
    master: str = "local[2]",
    log: str | Path | None = None,
    timeout: float = 120.0,
    python: str | None = None,
) -> Iterator[str]:
    """Run a Spark Connect server on ``master`` for the block; yields its ``sc://`` URL.
    Its executors' Python workers run ``python`` (default: this Python).

    The server runs in its own process group, which ends (with its executors' Python workers)
    when the block does.
    """
    port = free_port()
    log_path = Path(log) if log else Path(os.environ.get("TMPDIR", "/tmp")) / f"connect-{port}.log"
    spark_class = spark_home() / "bin" / "spark-class"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            ["bash", str(spark_class), *connect_command(master, port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=connect_env(python),
            start_new_session=True,
        )
    try:
        wait_connect_ready(port, lambda: proc.poll() is None, log_path, timeout)
        yield f"sc://{HOST}:{port}"
    finally:
        stop_client_session()  # else its exit handler retries a dead server for minutes
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
