"""The running trial, as seen from inside an objective on an executor.

``report(step, value)`` sends one point of the learning curve to the driver; when the driver's
pruner says stop, it raises :class:`~sparktf.errors.TrialPruned`. Outside a trial (for example
when debugging an objective locally) it only records nothing and returns.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sparktf.errors import TrialPruned
from sparktf.execution.channel import ChannelClient
from sparktf.execution.checkpoints import Checkpoint, TrialCheckpoints

CURVE = "sparktf_curve"  # a checkpoint's metadata key: the learning curve up to its step


@dataclass
class TrialContext:
    """Mutable state of the trial running in this worker."""

    number: int
    params: dict[str, Any]
    client: ChannelClient
    curve: dict[int, float] = field(default_factory=dict)
    pruned_at: int | None = None
    measures: tuple[str, ...] = ()  # the built-in measures the study needs
    known: dict[str, float] = field(default_factory=dict)  # said before training

    checkpoints: TrialCheckpoints | None = None  # None: checkpoints are off
    resumed_from: int | None = None  # the step the attempt's checkpoint was saved after
    warnings: list[str] = field(default_factory=list)
    _looked: bool = False
    _resume: Checkpoint | None = None

    def announce(self, measures: dict[str, float]) -> None:
        """Record and send what the trial knows before training (params, model_bytes)."""
        self.known.update({str(k): float(v) for k, v in measures.items()})
        self.client.announce_measures(self.known)

    def should_stop(self, step: int, value: float, final: bool = False) -> bool:
        """Record ``value`` at ``step``, report it, and return True when the trial must stop.
        At the ``final`` step the trial has spent its budget: it completes whatever the
        pruner says."""
        self.curve[int(step)] = float(value)
        if not math.isfinite(value):
            return False
        if self.client.report(step, value) and not final:
            self.pruned_at = int(step)
            return True
        return False

    def save_checkpoint(
        self,
        step: int,
        arrays: dict[str, Any] | None,
        meta: dict[str, Any] | None,
        directory: Any = None,
    ) -> bool:
        """Save a checkpoint after ``step`` (with the curve so far); False when they are off."""
        if self.checkpoints is None:
            return False
        curve = {str(k): v for k, v in dict(self.curve).items() if k <= step}  # (a copy: a
        # background writer may run while the trial reports its next epoch)
        try:
            self.checkpoints.save(step, arrays, {**(meta or {}), CURVE: curve}, directory)
        except OSError as exc:  # the store is unreachable: train on, without checkpoints
            self.warnings.append(
                f"trial {self.number}: could not write its checkpoint ({exc}); it went on "
                "without checkpoints"
            )
            self.checkpoints = None
            return False
        return True

    def last_checkpoint(self) -> Checkpoint | None:
        """The trial's newest checkpoint from an earlier attempt (looked up once per attempt);
        its curve is replayed to the driver, which records each step once."""
        if self.checkpoints is None or self._looked:
            return self._resume
        self._looked = True
        ckpt = self._resume = self.checkpoints.latest()
        if ckpt is None:
            return None
        self.resumed_from = ckpt.step
        curve = ckpt.meta.pop(CURVE, {}) or {}
        for step, value in sorted((int(k), float(v)) for k, v in curve.items()):
            self.curve[step] = value
            if math.isfinite(value):
                self.client.report(step, value)  # decisions on old steps do not apply
        return ckpt


_current: ContextVar[TrialContext | None] = ContextVar("sparktf_trial", default=None)


def current_trial() -> TrialContext | None:
    """The trial running in this worker, or None outside a trial."""
    return _current.get()


@contextmanager
def trial_context(ctx: TrialContext) -> Iterator[TrialContext]:
    """Make ``ctx`` the current trial inside the block."""
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def known(**measures: float) -> None:
    """Say what this trial knows before training, e.g. ``known(params=120_000)``: with several
    objectives, MO-ASHA ranks each rung on these with the learning curve. Return the same
    names in the objective's result dict. Outside a trial it does nothing."""
    ctx = current_trial()
    if ctx is not None:
        ctx.announce({k: float(v) for k, v in measures.items()})


def report(step: int, value: float) -> None:
    """Report an intermediate value of the optimised metric (e.g. after each epoch).

    Args:
        step: the step (epoch) number, increasing, starting at 1.
        value: the metric at that step.

    Raises:
        TrialPruned: the driver's pruner stopped this trial; let it propagate.
    """
    ctx = current_trial()
    if ctx is not None and ctx.should_stop(step, value):
        raise TrialPruned(f"trial {ctx.number} pruned at step {step} (value {value:.6g})")
