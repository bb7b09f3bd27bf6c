"""Against a real ``mlflow server`` on loopback: a study logs through it, the server goes
down mid-study, the study still completes and the gap is reported once; ``--resume`` with
the server back logs what was missing."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

import sparktf
from sparktf.tuning import tune
from tests.tracking import objectives
from tests.tracking.conftest import run_tree
from tests.tracking.server import Server, start_server

TRIALS = 6


def _stop_after_first_child(server: Server, stopped: threading.Event) -> None:
    """Stop the server once a trial's child run is complete in it."""
    from mlflow import MlflowClient

    client = MlflowClient(server.uri)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        exp = client.get_experiment_by_name("sparktf")
        if exp is not None:
            runs = client.search_runs([exp.experiment_id], "tags.`sparktf.trial` = '0'")
            if runs and runs[0].info.status == "FINISHED":
                break
        time.sleep(0.2)
    server.stop()
    stopped.set()


@pytest.mark.slow
def test_a_server_going_down_mid_study_leaves_a_reported_gap_that_resume_fills(
    spark: Any, tmp_path: Path, mlflow_server: Server, capsys: pytest.CaptureFixture
) -> None:
    stopped = threading.Event()
    watcher = threading.Thread(target=_stop_after_first_child, args=(mlflow_server, stopped))
    watcher.start()
    out = tmp_path / "run"
    space = {"x": sparktf.uniform(0, 1), "sleep": 0.7}
    res = tune(
        objectives.sleep_x,
        space,
        spark=spark,
        out=out,
        trials=TRIALS,
        parallelism=1,
        direction="minimize",
        write_report=False,
        mlflow=True,
        mlflow_tracking_uri=mlflow_server.uri,
    )
    watcher.join()
    assert stopped.is_set()
    assert (res.trials["state"] == "COMPLETE").sum() == TRIALS
    captured = capsys.readouterr()
    err = " ".join(captured.err.split())
    assert err.count("warning: MLflow: could not log") == 1, err
    assert "View run" not in captured.out  # MLflow's own lines stay out of sparktf's output
    assert f"to {mlflow_server.uri}" in err and f"--resume {out} --mlflow" in err

    # what reached the server before it went down is in its store
    store = f"sqlite:///{tmp_path / 'server.db'}"
    before = run_tree(store)
    assert 1 <= len(before.children) < TRIALS
    assert before.parent.info.status == "RUNNING"

    port = int(mlflow_server.uri.rsplit(":", 1)[1])
    server = start_server(tmp_path, port=port)
    try:
        tune(None, None, spark=spark, out=out, resume=True, show_progress=False, write_report=False)
        after = run_tree(server.uri)
    finally:
        server.stop()
    assert after.parent.info.run_id == before.parent.info.run_id
    assert after.parent.info.status == "FINISHED"
    assert sorted(after.children) == list(range(TRIALS))
    assert all(r.info.status == "FINISHED" for r in after.children.values())
