"""``--warm-start RUN_DIR``: the completed trials of an earlier study, given to a new study's
sampler. A trial is compatible when the new space contains its hyperparameters (fixed ones
equal) and its results hold every objective of the new study. No Spark, no TensorFlow."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sparktf.errors import ConfigError
from sparktf.search import record
from sparktf.search.space import SearchSpace, read_file

if TYPE_CHECKING:
    import optuna


def read_enqueue(path: str) -> list[dict[str, Any]]:
    """``--enqueue FILE``: a JSON/YAML list of parameter sets, tried first.

    Raises:
        ConfigError: the file is unreadable or not a list of mappings.
    """
    data = read_file(path, "--enqueue file")
    if not isinstance(data, list) or not all(isinstance(d, Mapping) for d in data):
        raise ConfigError(
            f"--enqueue {path}: expected a list of parameter sets, e.g. "
            '[{"neurons": 128, "learning_rate": 0.001}], got ' + type(data).__name__
        )
    return [dict(d) for d in data]


@dataclass(frozen=True)
class WarmStart:
    """What an earlier study gives a new one.

    Attributes:
        trials: the compatible trials, as new (warm-start) trials of the new study.
        skipped: ``(number, why)`` of each incompatible completed trial.
    """

    trials: tuple[optuna.trial.FrozenTrial, ...]
    skipped: tuple[tuple[int, str], ...]

    def line(self, source: str) -> str:
        """The line that says how many were given (and which were skipped, why)."""
        text = f"warm start: {len(self.trials)} completed trial(s) of {source} given to the sampler"
        if self.skipped:
            why = "; ".join(f"trial {n}: {reason}" for n, reason in self.skipped[:10])
            more = f" (and {len(self.skipped) - 10} more)" if len(self.skipped) > 10 else ""
            text += f"; {len(self.skipped)} skipped as incompatible: {why}{more}"
        return text


def incompatibility(
    params: Mapping[str, Any], metrics: Mapping[str, float], space: SearchSpace, names: list[str]
) -> str | None:
    """Why a trial with these full ``params`` and ``metrics`` cannot join a study of ``space``
    optimising ``names``; None when it can."""
    for p in space:
        if p.name not in params:
            return f"it has no {p.name}"
        if not p.contains(params[p.name]):
            return f"{p.name}={params[p.name]!r} is outside the new space"
    missing = [n for n in names if n not in metrics]
    if missing:
        return f"its results lack {', '.join(missing)}"
    return None


def warm_trials(
    old: optuna.Study, space: SearchSpace, objectives: Mapping[str, str], source: str
) -> WarmStart:
    """The completed trials of ``old`` that fit a new study of ``space`` and ``objectives``."""
    import optuna

    dists = _distributions(space)
    names = list(objectives)
    given: list[optuna.trial.FrozenTrial] = []
    skipped: list[tuple[int, str]] = []
    for t in old.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if t.user_attrs.get(record.WARM_START):
            continue
        params = {**dict(t.user_attrs.get(record.PARAMS) or {}), **t.params}
        metrics = record.known_measures(t.user_attrs)
        if len(names) == 1 and names[0] not in metrics and t.value is not None:
            metrics[names[0]] = float(t.value)
        why = incompatibility(params, metrics, space, names)
        if why is not None:
            skipped.append((t.number, why))
            continue
        values = [metrics[n] for n in names]
        given.append(
            optuna.trial.create_trial(
                params={n: params[n] for n in dists},
                distributions=dists,
                values=values,
                user_attrs={
                    record.WARM_START: f"{source}#{t.number}",
                    record.PARAMS: params,
                    record.METRICS: dict(t.user_attrs.get(record.METRICS) or {}),
                },
            )
        )
    return WarmStart(tuple(given), tuple(skipped))


def _distributions(space: SearchSpace) -> dict[str, Any]:
    """The Optuna distributions of the space's searched hyperparameters."""
    import optuna

    from sparktf.console import quiet_optuna

    quiet_optuna()
    trial = optuna.create_study().ask()
    space.suggest(trial)
    return dict(trial.distributions)
