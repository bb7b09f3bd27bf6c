"""What the dispatcher needs from a study's configuration, in one frozen record."""

from __future__ import annotations

from dataclasses import dataclass

from sparktf.execution.checkpoints import CheckpointPlace
from sparktf.search.goals import Goals
from sparktf.search.moasha import StepPruning


@dataclass(frozen=True)
class DispatchSettings:
    """What the dispatcher needs from the tune configuration (``TuneConfig`` holds the
    defaults; ``sparktf.tuning.api`` builds this from it)."""

    trials: int
    parallelism: int
    metric: str
    direction: str
    monitor: str
    max_retries: int
    trial_timeout: float | None
    timeout: float | None
    val_fraction: float
    channel: bool
    channel_advertise: str | None
    goals: Goals | None = None  # several objectives or constraints (None: one objective)
    pruning: StepPruning | None = None  # None: Optuna's pruner (MOASHA: several objectives)
    checkpoints: CheckpointPlace | None = None  # where trials save their checkpoints
    # stop the study when its first this many trials all failed with the same error (0: never)
    max_failures: int = 0
