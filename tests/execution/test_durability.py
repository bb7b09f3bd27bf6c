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


def test_a_killed_worker_s_keras_trial_continues_from_its_checkpoint(spark, tmp_path: Path) -> None:
    from sparktf.datasets import load
    from tests.conftest import make_idx_dataset

    data = load("mnist", data_dir=make_idx_dataset(tmp_path / "d", 400, 40), download=False)
    run = tmp_path / "run"
    store = run / "checkpoints"
    study = {}

    def go() -> None:
        study["res"] = tune(
            "mnist_cnn",
            {"learning_rate": 3e-3, "neurons": 16, "epochs": 6, "batch_size": 8},
            spark=spark, data=data, trials=1, pruner="none", out=run, show_progress=False,
            write_report=False,
        )

    import threading

    worker = threading.Thread(target=go)
    worker.start()
    wait_for("a checkpoint after epoch 2", lambda: _checkpoint_at(store, 0, 2), every=0.05)
    assert _kill_python_workers() >= 1
    worker.join(timeout=600)
    res = study["res"]
    row = res.trials.iloc[0]
    assert row["state"] == "COMPLETE" and row["attempts"] == 2, row.to_dict()
    assert row["resumed_from_epoch"] >= 2
    assert row["epochs_completed"] == 6 and row["epochs"] == 6  # one continuous history
    (t,) = study_trials(run)
    assert sorted(t.intermediate_values) == [1, 2, 3, 4, 5, 6]
    assert not list(store.glob("*/trial-0")), "a finished trial's checkpoints are removed"
