"""A study's outputs in its run directory: ``trials.csv``, ``best/`` and the result."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparktf.errors import StudyFailed
from sparktf.execution.runner import Objective, ObjectiveKind, TrialOutcome
from sparktf.fileio import write_atomic, write_json
from sparktf.rundir import BEST_METRICS, BEST_MODEL, BEST_PARAMS, PREPROCESSING, RunDir
from sparktf.search import record
from sparktf.search.multi import feasible
from sparktf.search.study import is_better
from sparktf.tuning.config import TuneConfig
from sparktf.tuning.goals_config import goals_of

if TYPE_CHECKING:
    import optuna
    import pandas as pd


@dataclass(frozen=True)
class TuneResult:
    """What a study found.

    Attributes:
        best_params: the best trial's hyperparameters (None when no trial completed).
        best_value: its optimised metric.
        best_metrics: all its metrics (test error, training time, ...).
        best_model_path: the saved best model (Keras objectives), else None.
        trials: one row per trial, as in ``trials.csv``.
        run_dir: the run directory.
        counts: number of trials per state (``record.TrialStatus`` names).
        wall_seconds: the time this call took.
        best_trial: the number of the best trial (several objectives: ``--select``'s choice).
    """

    best_params: dict[str, Any] | None
    best_value: float | None
    best_metrics: dict[str, float]
    best_model_path: Path | None
    trials: pd.DataFrame
    run_dir: Path
    counts: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0
    best_trial: int | None = None  # the best (several objectives: the chosen) trial's number

    @property
    def front(self) -> pd.DataFrame:
        """Several objectives: the Pareto front's rows of ``trials`` (else no rows)."""
        df = self.trials
        if "pareto" not in df.columns:
            return df.iloc[0:0]
        return df[df["pareto"].eq(True)]


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial, as in ``trials.csv`` (see ``sparktf.search.record.COLUMNS``)."""
    return record.frame(record.records(study))


class Outputs:
    """Keeps trials.csv and best/ up to date as trials finish (the CSV at most every
    ``CSV_EVERY_S`` seconds while the study runs, and always at its end)."""

    CSV_EVERY_S = 2.0

    def __init__(self, cfg: TuneConfig, objective: Objective, data: Any) -> None:
        self.run = cfg.run_dir
        self.cfg = cfg
        self.objective = objective
        self.class_names = list(getattr(data, "class_names", []) or [])
        self.feature_names = list(getattr(data, "feature_names", []) or [])
        self.best_saved: float | None = None
        self.csv_written = -math.inf
        self.goals = goals_of(cfg)
        metrics_file = self.run.best / BEST_METRICS
        if metrics_file.is_file():  # a resumed study keeps its best model
            self.best_saved = json.loads(metrics_file.read_text()).get(cfg.metric)

    def trial_finished(
        self, study: optuna.Study, trial: optuna.Trial, outcome: TrialOutcome | None
    ) -> None:
        """Save the trial's model if it is the best so far (several objectives: every completed
        trial's, until the front is settled); refresh trials.csv now and then."""
        if self.goals.is_multi:
            keras = self.objective.kind is not ObjectiveKind.FUNCTION
            done = outcome is not None and outcome.state.value == "COMPLETE"
            if done and outcome is not None and (outcome.model_bytes or not keras):
                self._write_model(self.run.trial(trial.number), trial, outcome)
        elif (
            outcome is not None
            and outcome.state.value == "COMPLETE"
            and outcome.value is not None
            and is_better(outcome.value, self.best_saved, self.cfg.direction)
            and (self.objective.kind is ObjectiveKind.FUNCTION or outcome.model_bytes is not None)
            and feasible(outcome.metrics, self.goals.constraints)
        ):
            self._save_best(trial, outcome)
        if time.monotonic() - self.csv_written >= self.CSV_EVERY_S:
            self.write_csv(study)

    def _save_best(self, trial: optuna.Trial, outcome: TrialOutcome) -> None:
        self._write_model(self.run.best, trial, outcome)
        self.best_saved = outcome.value

    def _write_model(self, best: Path, trial: optuna.Trial, outcome: TrialOutcome) -> None:
        best.mkdir(parents=True, exist_ok=True)
        if outcome.model_bytes is not None:
            write_atomic(best / BEST_MODEL, outcome.model_bytes)
            preprocessing: dict[str, Any] = {
                "input_shape": list(self.objective.input_shape),
                "scale": self.objective.scale,
                "class_names": self.class_names,
            }
            if self.feature_names:  # a table model: predict reads these columns
                preprocessing["feature_columns"] = self.feature_names
            write_json(best / PREPROCESSING, preprocessing)
        full = dict(trial.user_attrs.get(record.PARAMS, {}))
        write_json(best / BEST_PARAMS, {"trial": trial.number, **trial.params, **full})
        write_json(best / BEST_METRICS, {"trial": trial.number, **outcome.metrics})

    def write_csv(self, study: optuna.Study) -> None:
        """Write trials.csv now."""
        self.csv_written = time.monotonic()
        write_atomic(self.run.trials_csv, trials_frame(study).to_csv(index=False))


def result(study: optuna.Study, run: RunDir, wall: float, chosen: int | None = None) -> TuneResult:
    """The study's :class:`TuneResult` (several objectives: ``chosen`` is the front's trial
    that ``--select`` chose)."""
    recs = record.records(study)
    best_params = best_value = best_number = None
    best_metrics: dict[str, float] = {}
    try:
        best = study.trials[chosen] if chosen is not None else study.best_trial
    except (ValueError, RuntimeError):  # no trial completed; several objectives, none chosen
        pass
    else:
        best_params = dict(best.user_attrs.get(record.PARAMS, best.params))
        best_value = best.values[0] if best.values else None
        best_number = best.number
        best_metrics = dict(best.user_attrs.get(record.METRICS, {}))
    model = run.best / BEST_MODEL
    return TuneResult(
        best_params,
        best_value,
        best_metrics,
        model if model.is_file() else None,
        record.frame(recs),
        run.path,
        record.counts(recs),
        wall,
        best_number,
    )


def check_failed(res: TuneResult, resume_hint: str, gave_up: str | None = None) -> None:
    """Raise when the study gave up (``gave_up``: why), or no trial completed or was pruned.

    Raises:
        StudyFailed: the first trials all failed alike (--max-failures), every finished trial
            failed (the first error shown), or none finished.
    """
    if gave_up is not None:
        raise StudyFailed(
            f"the study stopped: {gave_up}\nfix the cause (the error of each trial is in "
            f"trials.csv), then {resume_hint}; --max-failures 0 never stops a study for this"
        )
    if res.counts.get("COMPLETE", 0) or res.counts.get("PRUNED", 0):
        return
    df = res.trials
    failed = df[df["state"] == record.TrialStatus.FAILED.value] if len(df) else df
    if len(failed):
        errors = [e for e in failed["error"] if isinstance(e, str) and e]
        first = errors[0] if errors else "no error text"
        raise StudyFailed(f"all {len(failed)} trials failed; the first one's error:\n{first}")
    raise StudyFailed(f"the study stopped before any trial finished; {resume_hint}")
