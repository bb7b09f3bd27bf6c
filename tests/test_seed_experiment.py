"""benchmarks/seed_experiment.py at toy size, end to end on real local Spark and Fashion-MNIST."""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import needs_fashion

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "seed_experiment.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("seed_experiment", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def _trial_counts(out: Path) -> dict[str, int]:
    import optuna

    return {
        part: len(
            optuna.load_study(
                study_name="sparktf", storage=f"sqlite:///{out / part}/study.db"
            ).trials
        )
        for part in ("default", "tuned", "sensitivity")
    }


def test_plan_counts_asha_epochs_and_task_slots() -> None:
    se = _script()
    # rungs at 1 and 3 epochs, a third promoted: 1 + 2/3 epochs per trial
    assert se.asha_epochs(3, 1, 3) == pytest.approx(5 / 3)
    assert se.asha_epochs(9, 1, 3) == pytest.approx(1 + 2 / 3 + 6 / 9)
    plan = se.Plan()
    lrs = plan.grid_learning_rates
    assert len(plan.grid_neurons) >= 3 and len(lrs) >= 6 and max(lrs) / min(lrs) >= 1e4
    assert plan.trial_epochs()["sensitivity"] == len(plan.grid_neurons) * len(lrs) * 2
    assert se.task_slots("local[2]") == 2 and se.task_slots("local") == 1


@pytest.mark.slow
@needs_fashion
def test_toy_run_writes_results_and_resume_goes_on_without_rerunning(
    spark: object, tmp_path: Path
) -> None:
    se = _script()
    out, results = tmp_path / "run", tmp_path / "results"
    argv = ["--toy", "--trials", "1", "--out", str(out), "--results", str(results)]
    se.run_experiment(se.parse_args([*argv, "--no-progress"]), spark=spark)

    data = json.loads((results / "seed_experiment.json").read_text())
    assert (data["train_images"], data["validation_images"], data["test_images"]) == (400, 100, 200)
    assert (data["epochs_per_trial"], data["trials"]) == (1, 1)
    default = data["default"]
    errors = [s["test_error"] for s in default["seeds"]]
    assert [s["seed"] for s in default["seeds"]] == [1, 2]
    assert all(0 <= e <= 1 for e in errors)
    assert default["test_error"] == pytest.approx(statistics.fmean(errors))
    assert default["params"]["neurons"] == 1024 and default["params"]["learning_rate"] == 1e-4
    tuned = data["tuned"]
    assert 0 <= tuned["test_error"] <= 1
    assert {"neurons", "learning_rate", "batch_size", "dropout"} <= set(tuned["params"])
    assert 1e-5 <= tuned["params"]["learning_rate"] <= 1e-1
    points = data["sensitivity"]["points"]
    assert {(p["neurons"], p["learning_rate"]) for p in points} == {
        (n, lr) for n in (64, 256) for lr in (1e-3, 1e-1)
    }
    assert data["compute_seconds"] == pytest.approx(sum(data["compute_seconds_by_part"].values()))
    assert data["compute_seconds"] > 0 and data["wall_seconds"] > 0
    png = results / "seed_sensitivity.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "seed_sensitivity.png" in data["figures"]

    # Without --resume the earlier run is not silently reused.
    with pytest.raises(SystemExit, match="--resume"):
        se.run_experiment(se.parse_args(argv), spark=spark)

    # An unfinished part (here: the tuned study, asked for one more trial) goes on; the
    # finished parts are read back, their studies untouched.
    plan = json.loads((out / "plan.json").read_text())
    (out / "plan.json").write_text(json.dumps({**plan, "trials": 2}))
    (out / "tuned" / "part.json").unlink()
    before = _trial_counts(out)
    mtimes = {p: (out / p / "study.db").stat().st_mtime_ns for p in ("default", "sensitivity")}
    se.run_experiment(se.parse_args([*argv, "--resume", "--no-progress"]), spark=spark)
    assert _trial_counts(out) == {**before, "tuned": 2}
    assert {p: (out / p / "study.db").stat().st_mtime_ns for p in mtimes} == mtimes
    again = json.loads((results / "seed_experiment.json").read_text())
    assert again["trials"] == 2 and again["tuned"]["finished_trials"] == 2
    assert again["default"] == default
