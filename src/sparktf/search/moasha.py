"""Early stopping per epoch: Optuna's pruners (one objective) or sparktf's MO-ASHA (several).

Optuna's pruners cannot judge a multi-objective trial (``Trial.report`` refuses it: Optuna
issue 3450), and Optuna's TPE sampler fails on a pruned multi-objective trial that has
intermediate values; so with several objectives the learning curve is kept in the trial's
user attributes (``record.CURVE``) instead.

MO-ASHA (Schmucker et al. 2021) is asynchronous successive halving whose rungs are ranked by
non-dominated sorting instead of by one metric:

- rungs are at ``min_epochs * eta**k`` epochs (1, 3, 9, ... by default);
- a trial reaching a rung is compared with every trial that reached it before, on the vector
  (the learning-curve objective's value at that epoch, the objectives known before training:
  ``params``, ``model_bytes``);
- the rung's trials are ordered by non-dominated front, then by crowding distance (larger
  first), and the trial goes on if it is among the first ``max(1, n // eta)`` of the ``n``;
  a trial tied with the last of those goes on too.

So a small model slightly less accurate than a large one is on the first front and goes on, and
a model worse on every objective than another is behind it and stops. No Spark, no TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from sparktf.search import record
from sparktf.search.multi import rank_keys

if TYPE_CHECKING:
    import optuna


class StepPruning(Protocol):
    """How the dispatcher records a trial's learning curve and asks whether to stop it."""

    def report(self, trial: optuna.Trial, step: int, value: float) -> None:
        """Record the curve's ``value`` at ``step``."""

    def should_prune(self, trial: optuna.Trial, step: int) -> bool:
        """Whether the trial, which just reported ``step``, must stop."""


class OptunaPruning:
    """One objective: Optuna's own ``report`` / ``should_prune`` and the study's pruner."""

    def report(self, trial: optuna.Trial, step: int, value: float) -> None:
        """Optuna's ``Trial.report``."""
        trial.report(value, step)

    def should_prune(self, trial: optuna.Trial, step: int) -> bool:
        """Optuna's ``Trial.should_prune``."""
        return bool(trial.should_prune())


class CurveOnly:
    """Several objectives without early stopping: the curve is stored, nothing is pruned."""

    def report(self, trial: optuna.Trial, step: int, value: float) -> None:
        """Keep the curve's point in the trial's attributes (see the module's docstring)."""
        curve = dict(trial.user_attrs.get(record.CURVE) or {})
        curve[str(int(step))] = float(value)
        trial.set_user_attr(record.CURVE, curve)

    def should_prune(self, trial: optuna.Trial, step: int) -> bool:
        """Never."""
        return False


class MOASHA(CurveOnly):
    """Multi-objective asynchronous successive halving (see the module's docstring).

    Args:
        curve_direction: ``maximize`` or ``minimize``, the learning-curve objective's.
        known: the objectives known before training and their directions (in the study's
            order), e.g. ``{"params": "minimize"}``; a trial that has not said them counts as
            worst on them.
        min_epochs: the first rung.
        reduction_factor: eta; the best ``1/eta`` of a rung go on.
    """

    def __init__(
        self,
        curve_direction: str,
        known: Mapping[str, str],
        min_epochs: int = 1,
        reduction_factor: int = 3,
    ) -> None:
        self.directions = (curve_direction, *known.values())
        self.known = tuple(known)
        self.min_epochs = min_epochs
        self.eta = reduction_factor

    def is_rung(self, step: int) -> bool:
        """Whether ``step`` is a rung (``min_epochs * eta**k``)."""
        r = self.min_epochs
        while r < step:
            r *= self.eta
        return r == step

    def should_prune(self, trial: optuna.Trial, step: int) -> bool:
        """Rank the rung at ``step`` and say whether ``trial`` is outside its best 1/eta."""
        if not self.is_rung(step):
            return False
        curves = [(t, record.curve_of(t)) for t in trial.study.get_trials(deepcopy=False)]
        rung = [(t, c[step]) for t, c in curves if step in c]
        rung.sort(key=lambda tc: tc[0].number != trial.number)  # this trial first
        if not rung or rung[0][0].number != trial.number:
            return False
        points = [self._point(value, t.user_attrs) for t, value in rung]
        return not keeps(points, self.directions, self.eta)

    def _point(self, value: float, attrs: Mapping[str, object]) -> tuple[float, ...]:
        known = record.known_measures(attrs)
        worst = [math.inf if d == "minimize" else -math.inf for d in self.directions]
        out = [value]
        for i, name in enumerate(self.known, start=1):
            v = known.get(name)
            out.append(v if v is not None and math.isfinite(v) else worst[i])
        return tuple(out)


def keeps(points: Sequence[Sequence[float]], directions: Sequence[str], eta: int) -> bool:
    """Whether ``points[0]`` is among the best ``max(1, n // eta)`` of the rung ``points``
    (ordered by non-dominated front, then crowding distance; ties go on)."""
    keys = rank_keys([_finite(p) for p in points], directions)
    k = max(1, len(points) // eta)
    threshold = sorted(keys)[k - 1]
    return keys[0] <= threshold


def _finite(point: Sequence[float]) -> tuple[float, ...]:
    """Infinite "worst" entries as very large numbers, so crowding distances stay defined."""
    return tuple(max(min(v, 1e300), -1e300) for v in point)
