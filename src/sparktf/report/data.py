"""Read a study's run directory into plain, frozen records that the figures and tables use.

The Optuna study named in ``config.json`` is the source of truth; every per-trial detail comes
from its trials (params, value, intermediate values, user attributes set by ``sparktf tune``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparktf.errors import ConfigError
from sparktf.rundir import RunDir
from sparktf.search import record
from sparktf.search.multi import normalize_objectives
from sparktf.search.record import TrialRecord, TrialStatus

if TYPE_CHECKING:
    import optuna

# trial states, as the report names them
COMPLETE, PRUNED, FAILED, RUNNING, WAITING = (
    s.value
    for s in (
        TrialStatus.COMPLETE,
        TrialStatus.PRUNED,
        TrialStatus.FAILED,
        TrialStatus.RUNNING,
        TrialStatus.WAITING,
    )
)


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
    objectives: Mapping[str, str] = field(default_factory=dict)  # name -> direction, in order
    chosen: int | None = None  # several objectives: the front member --select saved as best/

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
        """The best completed (feasible) trial, or None; several objectives: the front member
        ``--select`` chose."""
        if self.chosen is not None:
            return next((t for t in self.trials if t.number == self.chosen), None)
        ranked = self.ranked()
        return ranked[0] if ranked else None

    def ranked(self) -> list[TrialRecord]:
        """Completed trials, best first."""
        sign = -1.0 if self.maximize else 1.0
        feasible = [t for t in self.completed if t.feasible is not False]
        return sorted(feasible, key=lambda t: sign * t.score)

    def timed(self) -> list[tuple[TrialRecord, float, float]]:
        """(trial, run_start, run_end) of every trial that recorded both, by start."""
        out = [(t, *t.interval) for t in self.trials if t.interval is not None]
        return sorted(out, key=lambda row: row[1])

    @property
    def start(self) -> float | None:
        """The earliest executor-side start of any trial (unix seconds)."""
        timed = self.timed()
        return timed[0][1] if timed else None


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
    if len({t.values[0] for t in done}) < 2:
        return {}, "the optimised metric has the same value in every completed trial"
    names = {n for t in done for n in t.params}
    varying = sorted(n for n in names if len({repr(t.params.get(n)) for t in done}) > 1)
    if not varying:
        return {}, "no hyperparameter varies across the completed trials"
    evaluator, method = _evaluator()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PED-ANOVA warns about small studies
            first = (lambda t: t.values[0]) if len(study.directions) > 1 else None
            imp = optuna.importance.get_param_importances(
                study, evaluator=evaluator, params=varying, target=first
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
    records = tuple(record.records(study))
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
    direction = str(config.get("direction") or study.directions[0].name.lower())
    objectives = normalize_objectives(config.get("objectives") or []) or {
        n: d.name.lower()
        for n, d in zip(record.objective_names(study), study.directions, strict=True)
    }
    parallelism = record.as_int(config.get("parallelism"))
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
        objectives=objectives,
        chosen=_chosen(run) if len(objectives) > 1 else None,
    )


def _chosen(run: RunDir) -> int | None:
    """The trial saved as ``best/`` (its ``params.json`` says which)."""
    import json

    from sparktf.rundir import BEST_PARAMS

    try:
        return record.as_int(json.loads((run.best / BEST_PARAMS).read_text()).get("trial"))
    except (OSError, ValueError, AttributeError):
        return None
