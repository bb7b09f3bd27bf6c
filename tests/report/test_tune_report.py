"""A tiny real ``sparktf.tune`` on local Spark writes its report at the end."""

from __future__ import annotations

from pathlib import Path

import optuna

import sparktf
from sparktf.report.data import load
from tests.report import objectives


def test_tune_writes_a_report_of_its_study(spark: object, tmp_path: Path) -> None:
    run = tmp_path / "tuned"
    result = sparktf.tune(
        objectives.synthetic_training,
        {
            "neurons": sparktf.choice([64, 256, 1024]),
            "learning_rate": sparktf.loguniform(1e-4, 1e-1),
            "epochs": 3,
        },
        trials=6,
        sampler="random",
        seed=1,
        pruner="none",
        spark=spark,
        out=run,
        parallelism=2,
        metric="val_accuracy",
        direction="maximize",
        enqueue=[{"neurons": 1024, "learning_rate": 0.08}],  # diverges: one failed trial
        show_progress=False,
        write_report=True,
    )
    html = (run / "report.html").read_text()
    for name in (
        "sensitivity",
        "history",
        "importance",
        "parallel_coordinates",
        "learning_curves",
        "timeline",
    ):
        assert (run / f"{name}.png").is_file(), name
    data = load(run)
    study = optuna.load_study(study_name=data.study_name, storage=f"sqlite:///{run / 'study.db'}")
    assert len(data.trials) == len(study.trials) >= 6
    failed = data.with_state("FAILED")
    assert len(failed) == result.counts.get("FAILED", 0) >= 1
    assert "FloatingPointError: loss is nan at learning rate 0.08" in html
    assert f"Failed trials ({len(failed)})" in html
    # what tune recorded reaches the figures: executor times, workers, curves, test errors
    timed = data.timed()
    assert len(timed) == len(data.trials) and all(t.worker for t, _, _ in timed)
    assert all(len(t.curve) == 3 and "test_error" in t.metrics for t in data.completed)
    assert "Not drawn" not in html
