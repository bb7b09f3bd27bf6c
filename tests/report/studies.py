"""Real Optuna studies in run directories, laid out as ``sparktf tune`` writes them."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import optuna

from sparktf.search import record

SPACE = {
    "neurons": {"type": "choice", "values": [64, 256, 1024]},
    "learning_rate": {"type": "loguniform", "low": 1e-4, "high": 1e-1},
}
TRACEBACK = (
    "objective raised ValueError\n"
    "Traceback (most recent call last):\n"
    '  File "runner.py", line 161, in run_trial\n'
    "    value, metrics = _value_from(objective.fn(dict(task.params), data), task.metric)\n"
    "ValueError: learning rate 0.09 diverged: loss is nan"
)


def write_config(run: Path, **overrides: Any) -> None:
    """A config.json like the one ``sparktf tune`` writes."""
    config = {
        "study_name": "sparktf",
        "storage": None,
        "metric": "val_accuracy",
        "direction": "maximize",
        "space": SPACE,
        "model": "mnist_cnn",
        "dataset": "fashion-mnist",
        "sampler": "tpe",
        "pruner": "asha",
        "trials": 14,
        "parallelism": 2,
        "master": "local[2]",
    }
    config.update(overrides)
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(json.dumps(config, indent=2))


def _error(lr: float, neurons: int) -> float:
    """A test error with the classic shape: a best learning rate, bigger nets more sensitive."""
    width = 1.6 - 0.35 * math.log2(neurons / 64) / 2
    return 0.006 + 0.02 * (abs(math.log10(lr) - math.log10(3e-3)) / width) ** 2


def make_study(
    run: Path,
    *,
    complete: int = 12,
    pruned: int = 3,
    failed: int = 2,
    sampler: str = "tpe",
    pruner: str = "asha",
    seed: int = 0,
    with_lr: bool = True,
    interrupted: int = 0,
) -> Path:
    """A run directory holding a real SQLite Optuna study with completed, pruned and failed
    trials, intermediate values and the user attributes ``sparktf tune`` records; then
    ``interrupted`` trials that a stopped driver left (as ``--resume`` marks them)."""
    write_config(run, sampler=sampler, pruner=pruner, trials=complete + pruned + failed)
    if not with_lr:
        cfg = json.loads((run / "config.json").read_text())
        cfg.update(
            space={"x": {"type": "uniform", "low": 0, "high": 1}},
            model=None,
            objective="mypkg:f",
            metric="loss",
            direction="minimize",
        )
        (run / "config.json").write_text(json.dumps(cfg))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # ask/report/tell in memory, then one copy into the run directory's SQLite file (many
    # small SQLite commits would make the fixture slow)
    study = optuna.create_study(
        study_name="sparktf",
        direction="maximize" if with_lr else "minimize",
        sampler=optuna.samplers.RandomSampler(seed=seed),
    )
    clock = {"w0": 1_700_000_000.0, "w1": 1_700_000_000.2}
    kinds = ["COMPLETE"] * complete + ["PRUNED"] * pruned + ["FAIL"] * failed
    # interleave so that pruned/failed trials are spread over the study
    order = sorted(range(len(kinds)), key=lambda i: (i * 7919) % len(kinds))
    for number, i in enumerate(order):
        kind = kinds[i]
        trial = study.ask()
        if with_lr:
            neurons = trial.suggest_categorical("neurons", [64, 256, 1024])
            lr = trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True)
            err = _error(lr, int(neurons))
        else:
            err = (trial.suggest_float("x", 0, 1) - 0.3) ** 2 + 0.01
        epochs = 2 if kind == "PRUNED" else (1 if kind == "FAIL" else 4)
        curve = {e: (1 - err) - 0.1 / e if with_lr else err + 0.1 / e for e in range(1, epochs + 1)}
        for step, v in curve.items():
            trial.report(v, step)
        worker = "w0" if number % 2 == 0 else "w1"
        start = clock[worker]
        duration = 1.0 + 0.5 * epochs + 0.1 * (number % 3)
        clock[worker] = start + duration + 0.05
        attrs: dict[str, Any] = {
            "worker_host": "127.0.0.1",
            "worker_pid": 4000 + int(worker[1]),
            "attempts": 2 if kind == "FAIL" or number == 1 else 1,
            "run_start": start,
            "run_end": start + duration,
            "compute_s": duration - 0.2,
            "epochs_completed": epochs,
            "params": dict(trial.params, epochs=4),
        }
        if number == 1:  # continued from its checkpoint after a lost worker
            attrs["resumed_from_epoch"] = 2
        if kind == "COMPLETE":
            metrics = (
                {
                    "val_accuracy": curve[epochs],
                    "val_error": 1 - curve[epochs],
                    "test_error": err,
                    "test_accuracy": 1 - err,
                    "train_seconds": duration,
                }
                if with_lr
                else {"loss": err}
            )
            attrs["metrics"] = metrics
        elif kind == "PRUNED":
            attrs["pruned_at_epoch"] = epochs
            attrs["metrics"] = {}
        else:
            attrs["error"] = TRACEBACK
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        if kind == "COMPLETE":
            study.tell(trial, curve[epochs])
        elif kind == "PRUNED":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
    for _ in range(interrupted):
        trial = study.ask()
        params = {"neurons": trial.suggest_categorical("neurons", [64, 256, 1024]), "epochs": 4}
        attrs = record.encode(
            interrupted=True, error="interrupted: the driver stopped while it was running"
        )
        for key, value in {**attrs, "params": dict(trial.params, **params)}.items():
            trial.set_user_attr(key, value)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    optuna.copy_study(
        from_study_name="sparktf",
        from_storage=study._storage,
        to_storage=f"sqlite:///{run / 'study.db'}",
    )
    (run / "trials.csv").write_text("number,state\n")
    return run
