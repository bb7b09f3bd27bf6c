"""Fixtures of the MLflow tests: a SQLite tracking store, a real ``mlflow server`` on
loopback, and reading a study's run tree back."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mlflow")


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    """A fresh SQLite tracking store with the experiment ``sparktf``, whose artifacts go next
    to it (not to MLflow's default ./mlruns)."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowClient(uri).create_experiment("sparktf", artifact_location=str(tmp_path / "artifacts"))
    return uri


@dataclass
class Server:
    """A running ``mlflow server``."""

    uri: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(directory: Path, port: int | None = None) -> Server:
    """``mlflow server`` on loopback (a free port unless given), its SQLite store and
    artifacts in ``directory``."""
    port = port or _free_port()
    cmd = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{directory / 'server.db'}",
        "--artifacts-destination",
        str(directory / "artifacts"),
    ]
    log = (directory / "server.log").open("ab")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    server = Server(f"http://127.0.0.1:{port}", proc)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited: {(directory / 'server.log').read_text()}")
        try:
            with urllib.request.urlopen(f"{server.uri}/health", timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            time.sleep(0.5)
    server.stop()
    raise RuntimeError("mlflow server did not start within 90 s")


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[Server]:
    """A real tracking server on loopback, stopped after the test."""
    server = start_server(tmp_path)
    yield server
    server.stop()


@dataclass(frozen=True)
class RunTree:
    """A study's parent run and its children by trial number."""

    parent: Any
    children: dict[int, Any]
    client: Any


def run_tree(uri: str, experiment: str = "sparktf") -> RunTree:
    """Read back the only study in ``experiment``: exactly one parent run is expected."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r}"
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1, [r.info.run_name for r in parents]
    parent = parents[0]
    kids = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    numbers = [int(r.data.tags["sparktf.trial"]) for r in kids]
    assert len(numbers) == len(set(numbers)), f"duplicate child runs: {sorted(numbers)}"
    return RunTree(parent, dict(zip(numbers, kids, strict=True)), client)
