"""Checks of a study's objectives, constraints, model choice and warm start (part of
``TuneConfig``)."""

from __future__ import annotations

from typing import Any, Protocol

from sparktf.errors import ConfigError
from sparktf.search.goals import Goals
from sparktf.search.multi import (
    MEASURES,
    Constraint,
    Selection,
    normalize_objectives,
    objective_specs,
)


class GoalSettings(Protocol):
    """What these checks read of a study's configuration (a ``TuneConfig``)."""

    @property
    def objectives(self) -> Any: ...
    @property
    def metric(self) -> str: ...
    @property
    def direction(self) -> str: ...
    @property
    def objective_kind(self) -> str: ...
    @property
    def constraints(self) -> list[str] | None: ...
    @property
    def select(self) -> str: ...
    @property
    def sampler(self) -> str: ...
    @property
    def pruner(self) -> str: ...
    @property
    def warm_start(self) -> str | None: ...
    @property
    def out(self) -> str: ...


# What a Keras trial (a model family or a builder) reports.
KERAS_METRICS = (
    "val_accuracy",
    "val_error",
    "val_loss",
    "test_accuracy",
    "test_error",
    "test_loss",
    "epochs",
    *MEASURES,
)


def check_goals(cfg: GoalSettings) -> dict[str, Any]:
    """The settled ``objectives``, ``metric`` (the objective with a learning curve),
    ``direction``, ``constraints`` and ``select`` of ``cfg``.

    Raises:
        ConfigError: a malformed objective or constraint, ``--metric``/``--direction`` that
            contradict ``--objective``, a name a Keras trial does not report, or a sampler or
            pruner that cannot handle several objectives.
    """
    objs = normalize_objectives(cfg.objectives) if cfg.objectives else {}
    if not objs:
        metric = cfg.metric or ("value" if cfg.objective_kind == "function" else "val_accuracy")
        objs = {metric: cfg.direction or default_direction(metric)}
    elif cfg.metric and cfg.metric not in objs and not set(objs) <= set(MEASURES):
        raise ConfigError(
            f"--metric {cfg.metric} is not one of the objectives ({', '.join(objs)}): give "
            "every objective with --objective NAME:max|min and drop --metric"
        )
    curve = cfg.metric or next((n for n in objs if n not in MEASURES), "")
    if not curve:  # only measures: a Keras trial still reports accuracy (MO-ASHA judges none)
        curve = next(iter(objs)) if cfg.objective_kind == "function" else "val_accuracy"
    direction = objs.get(curve) or default_direction(curve)
    if cfg.direction and cfg.direction != direction:
        raise ConfigError(
            f"--direction {cfg.direction} contradicts --objective {curve}:{direction[:3]}; "
            "drop --direction"
        )
    constraints = [Constraint.parse(str(c)) for c in cfg.constraints or ()]
    _check_names(cfg, [*objs, *(c.name for c in constraints)])
    goals = Goals(objs, constraints)
    if goals.is_multi:
        _check_multi(cfg)
    if cfg.warm_start:
        _check_warm_start(cfg)
    return {
        "objectives": objective_specs(objs),
        "metric": curve,
        "direction": direction,
        "constraints": [str(c) for c in constraints] or None,
        "select": str(Selection.parse(cfg.select)),
    }


def _check_names(cfg: GoalSettings, names: list[str]) -> None:
    if cfg.objective_kind == "function":  # the objective's own dict names them
        return
    unknown = [n for n in names if n not in KERAS_METRICS]
    if unknown:
        raise ConfigError(
            f"a Keras trial does not report {', '.join(unknown)}: objectives and constraints "
            f"of --model or a Keras builder are among {', '.join(KERAS_METRICS)}"
        )


def _check_multi(cfg: GoalSettings) -> None:
    if cfg.sampler == "cmaes":
        raise ConfigError(
            f"--sampler {cfg.sampler} optimises one objective (Optuna's CMA-ES has no "
            f"multi-objective form): with several objectives use one of "
            "tpe, nsga2, random, gp or grid"
        )
    if cfg.pruner in ("hyperband", "median"):
        raise ConfigError(
            f"--pruner {cfg.pruner} judges one objective (Optuna's pruners refuse "
            "multi-objective studies): with several objectives use asha (sparktf's MO-ASHA), "
            "auto or none"
        )


def _check_warm_start(cfg: GoalSettings) -> None:
    from pathlib import Path

    from sparktf.rundir import RunDir

    source = Path(str(cfg.warm_start))
    if source.resolve() == Path(cfg.out).resolve():
        raise ConfigError("--warm-start names this study's own run directory; name an earlier one")
    RunDir(source).read_config()  # raises when it is not a run directory


def default_direction(metric: str) -> str:
    """``maximize`` for accuracy-like metrics, else ``minimize``."""
    low = metric.lower()
    if any(w in low for w in ("accuracy", "auc", "precision", "recall", "f1", "score")):
        return "maximize"
    return "minimize"


def goals_of(cfg: GoalSettings) -> Goals:
    """The :class:`Goals` of a checked configuration."""
    objectives = normalize_objectives(cfg.objectives or [f"{cfg.metric}:{cfg.direction}"])
    return Goals(objectives, [Constraint.parse(c) for c in cfg.constraints or ()])
