"""The running trial, as seen from inside an objective on an executor.

``report(step, value)`` sends one point of the learning curve to the driver; when the driver's
pruner says stop, it raises :class:`~sparktf.errors.TrialPruned`. Outside a trial (for example
when debugging an objective locally) it only records nothing and returns.

The trial reaches the driver through a :class:`Reporter` and keeps its state in a
:class:`CheckpointStore`; ``execution`` implements both (the report channel's client, the
checkpoint store) and makes the context current, so that objectives and ``keras`` never import
``execution``.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sparktf.errors import TrialPruned

if TYPE_CHECKING:
    import numpy as np

CURVE = "sparktf_curve"  # a checkpoint's metadata key: the learning curve up to its step


@dataclass(frozen=True)
class Checkpoint:
    """A trial's saved state.

    Attributes:
        step: the step (epoch) it was saved after; the trial continues with ``step + 1``.
        arrays: named numpy arrays (loaded without pickle).
        meta: the JSON-able metadata saved with it.
        directory: a local copy of the folder saved with it (None for none); it is removed
            when the trial attempt ends.
    """

    step: int
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]
    directory: Path | None = None


class Reporter(Protocol):
    """Where a trial's learning curve goes: the driver, which answers "stop" or not."""

    def announce_measures(self, measures: dict[str, float]) -> None:
        """Tell the driver what the trial knows before training (before its first report)."""

    def report(self, step: int, value: float) -> bool:
        """Send one intermediate value; True when the trial should stop."""


class CheckpointStore(Protocol):
    """Where one trial's checkpoints are kept: the newest only."""

    def save(
        self,
        step: int,
        arrays: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
        directory: str | Path | None = None,
    ) -> str:
        """Save a checkpoint after ``step``, replacing the older ones; returns where."""

    def latest(self) -> Checkpoint | None:
        """The newest complete checkpoint of this trial, or None."""

    def clear(self) -> None:
        """Remove every checkpoint of the trial (it finished)."""


@dataclass
class TrialContext:
    """Mutable state of the trial running in this worker."""

    number: int
    params: dict[str, Any]
    reporter: Reporter
    curve: dict[int, float] = field(default_factory=dict)
    pruned_at: int | None = None
    measures: tuple[str, ...] = ()  # the built-in measures the study needs
    known: dict[str, float] = field(default_factory=dict)  # said before training

    checkpoints: CheckpointStore | None = None  # None: checkpoints are off
    resumed_from: int | None = None  # the step the attempt's checkpoint was saved after
    warnings: list[str] = field(default_factory=list)
    _looked: bool = False
    _resume: Checkpoint | None = None

    def announce(self, measures: dict[str, float]) -> None:
        """Record and send what the trial knows before training (params, model_bytes)."""
        self.known.update({str(k): float(v) for k, v in measures.items()})
        self.reporter.announce_measures(self.known)

    def should_stop(self, step: int, value: float, final: bool = False) -> bool:
        """Record ``value`` at ``step``, report it, and return True when the trial must stop.
        At the ``final`` step the trial has spent its budget: it completes whatever the
        pruner says."""
        self.curve[int(step)] = float(value)
        if not math.isfinite(value):
            return False
        if self.reporter.report(step, value) and not final:
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
                self.reporter.report(step, value)  # decisions on old steps do not apply
        return ckpt

    def release(self) -> None:
        """Remove the local copy of the restored checkpoint's folder (the attempt ended)."""
        if self._resume is not None and self._resume.directory is not None:
            shutil.rmtree(self._resume.directory, ignore_errors=True)


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
        ctx.release()


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
