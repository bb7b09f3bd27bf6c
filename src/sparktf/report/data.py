"""Read a study's run directory into plain, frozen records that the figures and tables use.

The Optuna study named in ``config.json`` is the source of truth; every per-trial detail comes
from its trials (params, value, intermediate values, user attributes set by ``sparktf tune``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparktf.errors import ConfigError
from sparktf.rundir import RunDir

if TYPE_CHECKING:
    import optuna

# Optuna's trial states, as the report names them.
COMPLETE, PRUNED, FAILED, RUNNING, WAITING = "COMPLETE", "PRUNED", "FAILED", "RUNNING", "WAITING"


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the report sees it."""

    number: int
    state: str
    value: float | None
    params: Mapping[str, Any]
    curve: Mapping[int, float]
    metrics: Mapping[str, float]
    worker: str | None = None
    run_start: float | None = None
    run_end: float | None = None
    compute_s: float | None = None
    epochs_completed: int | None = None
    pruned_at_epoch: int | None = None
    attempts: int | None = None
    error: str | None = None

    @property
    def interval(self) -> tuple[float, float] | None:
        """(run_start, run_end) on the executor's clock, when both were recorded."""
        if self.run_start is None or self.run_end is None:
            return None
        return self.run_start, self.run_end

    @property
    def score(self) -> float:
        """The value as a float (NaN when there is none)."""
        return self.value if self.value is not None else math.nan

    @property
    def error_summary(self) -> str:
        """The last non-empty line of the error text (the exception), or ''."""
        lines = [ln.strip() for ln in (self.error or "").splitlines() if ln.strip()]
        if not lines:
            return ""
        # "reason\nTraceback ...\n...\nValueError: msg": the exception line is the last one
        return lines[-1]


@dataclass(frozen=True)
class StudyData:
    """A study read from its run directory."""

    run_dir: Path
    study_name: str
    metric: str
    direction: str
    sampler: str
    pruner: str
    parallelism: int | None
    trials: tuple[TrialRecord, ...]
    log_params: frozenset[str] = frozenset()
    categorical_params: frozenset[str] = frozenset()
    importance: Mapping[str, float] = field(default_factory=dict)
    importance_note: str = ""  # the evaluator's name, or why there is no importance

    @property
    def label(self) -> str:
        """``run-dir-name (sampler/pruner)``, for legends."""
        return f"{self.run_dir.name} ({self.sampler}/{self.pruner})"

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"

    def with_state(self, state: str) -> list[TrialRecord]:
        """The trials in one state, by number."""
        return [t for t in self.trials if t.state == state]

    @property
    def completed(self) -> list[TrialRecord]:
        return [t for t in self.with_state(COMPLETE) if t.value is not None]

    @property
    def param_names(self) -> list[str]:
        """Every hyperparameter some trial has, in first-seen order."""
        names: dict[str, None] = {}
        for t in self.trials:
            names.update(dict.fromkeys(t.params))
        return list(names)

    def best(self) -> TrialRecord | None:
        """The best completed trial, or None."""
        done = self.completed
        if not done:
            return None
        return self.ranked()[0]

    def ranked(self) -> list[TrialRecord]:
        """Completed trials, best first."""
        sign = -1.0 if self.maximize else 1.0
        return sorted(self.completed, key=lambda t: sign * t.score)

    def timed(self) -> list[tuple[TrialRecord, float, float]]:
        """(trial, run_start, run_end) of every trial that recorded both, by start."""
        out = [(t, *t.interval) for t in self.trials if t.interval is not None]
        return sorted(out, key=lambda row: row[1])

    @property
    def start(self) -> float | None:
        """The earliest executor-side start of any trial (unix seconds)."""
        timed = self.timed()
        return timed[0][1] if timed else None


def _state(name: str) -> str:
    return FAILED if name == "FAIL" else name


def _num(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _int(value: Any) -> int | None:
    f = _num(value)
    return int(f) if f is not None else None


def _record(t: optuna.trial.FrozenTrial) -> TrialRecord:
    ua = t.user_attrs
    params = dict(ua.get("params") or {})
    params.update(t.params)  # searched values win; the user attribute adds fixed ones
    host, pid = ua.get("worker_host"), ua.get("worker_pid")
    worker = None if host is None and pid is None else f"{host or '?'}:{pid if pid else '?'}"
    metrics = {
        str(k): float(v)
        for k, v in (ua.get("metrics") or {}).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    error = ua.get("error")
    return TrialRecord(
        number=t.number,
        state=_state(t.state.name),
        value=_num(t.value),
        params=params,
        curve={int(k): float(v) for k, v in sorted(t.intermediate_values.items())},
        metrics=metrics,
        worker=worker,
        run_start=_num(ua.get("run_start")),
        run_end=_num(ua.get("run_end")),
        compute_s=_num(ua.get("compute_s")),
        epochs_completed=_int(ua.get("epochs_completed")),
        pruned_at_epoch=_int(ua.get("pruned_at_epoch")),
        attempts=_int(ua.get("attempts")),
        error=str(error) if error else None,
    )


def _open(run: RunDir, config: Mapping[str, Any]) -> optuna.Study:
    import optuna

    name = config.get("study_name")
    if not isinstance(name, str) or not name:
        raise ConfigError(
            f"{run.path} is not a sparktf study: {run.config.name} has no 'study_name' "
            "(was it written by 'sparktf tune'?)"
        )
    if not config.get("storage") and not run.database.is_file():
        raise ConfigError(
            f"{run.path} is not a sparktf study: the Optuna storage {run.database.name} is "
            "missing (did 'sparktf tune' start in this directory?)"
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.load_study(study_name=name, storage=run.storage_url)
    except KeyError as exc:
        raise ConfigError(
            f"{run.path} is not a sparktf study: no study named {name!r} in {run.storage_url}"
        ) from exc
    except Exception as exc:  # SQLAlchemy / storage errors
        raise ConfigError(
            f"cannot open the study {name!r} of {run.path} at {run.storage_url}: {exc}"
        ) from exc


def _evaluator() -> tuple[Any, str]:
    """Optuna's fANOVA evaluator (seeded) when scikit-learn is installed, else PED-ANOVA."""
    import importlib.util

    import optuna

    if importlib.util.find_spec("sklearn") is not None:
        return optuna.importance.FanovaImportanceEvaluator(seed=0), "fANOVA"
    return optuna.importance.PedAnovaImportanceEvaluator(), "PED-ANOVA"


def _importance(study: optuna.Study) -> tuple[dict[str, float], str]:
    """Importance over the hyperparameters that vary among the completed trials, and the
    evaluator's name; or no importance and the reason."""
    import warnings

    import optuna

    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(done) < 2:
        return {}, f"needs at least 2 completed trials, the study has {len(done)}"
    if len({t.value for t in done}) < 2:
        return {}, "the optimised metric has the same value in every completed trial"
    names = {n for t in done for n in t.params}
    varying = sorted(n for n in names if len({repr(t.params.get(n)) for t in done}) > 1)
    if not varying:
        return {}, "no hyperparameter varies across the completed trials"
    evaluator, method = _evaluator()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PED-ANOVA warns about small studies
            imp = optuna.importance.get_param_importances(
                study, evaluator=evaluator, params=varying
            )
    except (RuntimeError, ValueError) as exc:
        return {}, f"Optuna's {method} evaluator failed: {exc}"
    return {k: float(v) for k, v in imp.items()}, method


def load(run_dir: str | Path, importance: bool = True) -> StudyData:
    """Read the study of a run directory.

    Args:
        run_dir: a directory written by ``sparktf tune``.
        importance: also evaluate hyperparameter importance with Optuna's evaluator.

    Returns:
        The :class:`StudyData`.

    Raises:
        ConfigError: the directory is not a run directory of a study.
    """
    run = RunDir(Path(run_dir))
    if not run.path.is_dir():
        raise ConfigError(f"{run.path} does not exist or is not a directory")
    config = run.read_config()
    study = _open(run, config)
    import optuna

    frozen = study.get_trials(deepcopy=False)
    records = tuple(_record(t) for t in frozen)
    log_params = frozenset(
        name
        for t in frozen
        for name, dist in t.distributions.items()
        if isinstance(
            dist, (optuna.distributions.FloatDistribution, optuna.distributions.IntDistribution)
        )
        and dist.log
    )
    categorical = frozenset(
        name
        for t in frozen
        for name, dist in t.distributions.items()
        if isinstance(dist, optuna.distributions.CategoricalDistribution)
    )
    imp: dict[str, float] = {}
    note = "not computed"
    if importance:
        imp, note = _importance(study)
    direction = str(config.get("direction") or study.direction.name.lower())
    parallelism = _int(config.get("parallelism"))
    return StudyData(
        run_dir=run.path,
        study_name=study.study_name,
        metric=str(config.get("metric") or "value"),
        direction=direction,
        sampler=str(config.get("sampler") or "?"),
        pruner=str(config.get("pruner") or "?"),
        parallelism=parallelism if parallelism and parallelism > 0 else None,
        trials=records,
        log_params=log_params,
        categorical_params=categorical,
        importance=imp,
        importance_note=note,
    )
