"""What a study optimises and under which constraints, as the dispatcher tells Optuna.

One objective without constraints is told as Optuna always was (``study.tell(trial, value)``);
several objectives are told as a list of values in the study's order, and constraints through
Optuna's own ``Trial.set_constraint`` (the samplers read them; ``feasible`` in trials.csv).
No Spark, no TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sparktf.search.multi import MEASURES, Constraint

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class Goals:
    """The study's objectives (name -> ``maximize``/``minimize``, in order) and constraints."""

    objectives: Mapping[str, str]
    constraints: Sequence[Constraint] = ()

    @property
    def names(self) -> list[str]:
        """The objectives' names, in order."""
        return list(self.objectives)

    @property
    def directions(self) -> list[str]:
        """The objectives' directions, in order."""
        return list(self.objectives.values())

    @property
    def is_multi(self) -> bool:
        """Whether there are several objectives."""
        return len(self.objectives) > 1

    @property
    def measures(self) -> tuple[str, ...]:
        """The built-in measures (params, model_bytes, ...) the objectives and constraints use."""
        used = [*self.objectives, *(c.name for c in self.constraints)]
        return tuple(m for m in MEASURES if m in used)

    def missing(self, metrics: Mapping[str, float]) -> str | None:
        """Why a completed trial's ``metrics`` cannot be told (an objective is absent or not
        finite), else None."""
        bad = [n for n in self.objectives if not math.isfinite(metrics.get(n, math.nan))]
        if not bad:
            return None
        return (
            f"the objective(s) {', '.join(bad)} are missing or not finite in the trial's "
            f"results (it gave {', '.join(sorted(metrics)) or 'nothing'})"
        )

    def constrain(self, trial: optuna.Trial, metrics: Mapping[str, float]) -> None:
        """Tell Optuna the constraint values of the trial (<= 0: feasible)."""
        for c in self.constraints:
            trial.set_constraint(str(c), c.violation(metrics))

    def tell(self, study: optuna.Study, trial: optuna.Trial, metrics: Mapping[str, float]) -> None:
        """Tell Optuna a completed trial: its constraints, then its values."""
        self.constrain(trial, metrics)
        values = [float(metrics[n]) for n in self.objectives]
        study.tell(trial, values if self.is_multi else values[0])
