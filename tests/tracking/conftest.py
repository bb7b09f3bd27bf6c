"""Fixtures of the MLflow tests: a SQLite tracking store, a real ``mlflow server`` on
loopback, and reading a study's run tree back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.tracking.server import Server, start_server

pytest.importorskip("mlflow")


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    """A fresh SQLite tracking store with the experiment ``sparktf``, whose artifacts go next
    to it (not to MLflow's default ./mlruns)."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowClient(uri).create_experiment("sparktf", artifact_location=str(tmp_path / "artifacts"))
    return uri


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
