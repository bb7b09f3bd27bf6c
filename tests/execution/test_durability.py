"""Durable trials on real Spark: per-epoch checkpoints, a worker killed in mid-trial and the
retry continuing from the checkpoint (Keras trials and a training loop of its own), the
checkpoint store as a URL, and the study stopping when its first trials all fail alike."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

import sparktf
from sparktf.cluster import descendants
from sparktf.tuning import StudyFailed, tune
from tests import objectives
from tests.clusterutil import study_trials, wait_for


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _kill_python_workers() -> int:
    """SIGKILL PySpark's Python workers under this test process (the processes a
    ``pyspark.daemon`` forked; on Spark Connect, under the test's Connect server), as a lost
    worker would; returns how many."""
    daemons: dict[int, int] = {}
    for pid in descendants(os.getpid()):
        try:
            if b"pyspark.daemon" in Path(f"/proc/{pid}/cmdline").read_bytes():
                daemons[pid] = _parent(pid)
        except (OSError, ValueError, IndexError):
            continue
    workers = [pid for pid, parent in daemons.items() if parent in daemons]
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    return len(workers)


def _checkpoint_at(store: Path, trial: int, step: int) -> bool:
    """A committed checkpoint of ``trial`` saved after ``step`` (or later) is in ``store``."""
    for marker in store.glob(f"*/trial-{trial}/step-*/checkpoint.json"):
        if int(marker.parent.name.split("-")[1]) >= step:
            return True
    return False


def _kill_in_mid_trial(
    spark: object, objective: object, space: dict, store: Path, run: Path, **settings: object
) -> object:
    """Run a one-trial study in a thread of this process (the driver); once trial 0 has a
    checkpoint after epoch 2, kill the Python workers under it; return the study's result."""
    import threading

    study: dict[str, object] = {}

    def go() -> None:
        study["res"] = tune(
            objective,
            space,
            spark=spark,
            trials=1,
            pruner="none",
            out=run,
            show_progress=False,
            write_report=False,
            **settings,
        )

    driver = threading.Thread(target=go)
    driver.start()
    wait_for("a checkpoint after epoch 2", lambda: _checkpoint_at(store, 0, 2), every=0.05)
    assert _kill_python_workers() >= 1
    (run.parent / "go").touch()  # a held training loop may go on
    driver.join(timeout=600)
    assert "res" in study, "the study did not end"
    return study["res"]


@pytest.mark.slow
def test_a_killed_worker_s_keras_trial_continues_from_its_checkpoint(spark, tmp_path: Path) -> None:
    from sparktf.datasets import load
    from tests.conftest import make_idx_dataset

    data = load("mnist", data_dir=make_idx_dataset(tmp_path / "d", 400, 40), download=False)
    run = tmp_path / "run"
    store = run / "checkpoints"
    space = {"learning_rate": 3e-3, "neurons": 16, "epochs": 6, "batch_size": 8}
    res = _kill_in_mid_trial(spark, "mnist_cnn", space, store, run, data=data)
    row = res.trials.iloc[0]
    assert row["state"] == "COMPLETE" and row["attempts"] == 2, row.to_dict()
    assert row["resumed_from_epoch"] >= 2
    assert row["epochs_completed"] == 6 and row["epochs"] == 6  # one continuous history
    (t,) = study_trials(run)
    assert sorted(t.intermediate_values) == [1, 2, 3, 4, 5, 6]
    assert not list(store.glob("*/trial-0")), "a finished trial's checkpoints are removed"


def test_a_training_loop_of_its_own_resumes_from_its_checkpoint_in_a_url_store(
    spark, tmp_path: Path
) -> None:
    log, go = tmp_path / "epochs.log", tmp_path / "go"
    store = tmp_path / "store"
    space = {"x": 1.0, "epochs": 4, "hold": 2, "log": str(log), "go": str(go)}
    res = _kill_in_mid_trial(
        spark,
        objectives.checkpointed_loop,
        space,
        store,
        tmp_path / "run",
        checkpoint_dir=f"file://{store}",
    )
    row = res.trials.iloc[0]
    assert row["state"] == "COMPLETE" and row["value"] == 12.0, row.to_dict()  # 4 epochs x 3
    assert row["attempts"] == 2 and row["resumed_from_epoch"] == 2
    epochs = [line.split()[1] for line in log.read_text().splitlines()]
    assert epochs == ["1", "2", "3", "4"], "an epoch was trained twice, or lost"
    pids = [line.split()[2] for line in log.read_text().splitlines()]
    assert pids[1] != pids[2], "the retry ran in a new Python worker"
    (t,) = study_trials(tmp_path / "run")
    assert t.intermediate_values == {1: 3.0, 2: 6.0, 3: 9.0, 4: 12.0}
    assert not list(store.glob("*/trial-0")), "a finished trial's checkpoints are removed"


def test_the_study_stops_when_its_first_trials_all_fail_alike(spark, tmp_path: Path) -> None:
    with pytest.raises(StudyFailed, match="first 3 trials all failed with the same error") as err:
        tune(
            objectives.always_raise,
            {"x": sparktf.uniform(0, 1)},
            spark=spark,
            trials=12,
            max_failures=3,
            out=tmp_path / "run",
            show_progress=False,
            write_report=False,
        )
    assert "RuntimeError: the objective is broken" in str(err.value)
    assert "--resume" in str(err.value)
    states = [t.state.name for t in study_trials(tmp_path / "run")]
    assert states.count("FAIL") < 12, "every trial ran"
