"""For objectives: talk to the driver from inside a running trial.

from sparktf.trial import get_checkpoint, report, save_checkpoint

def objective(params, data):
    ckpt = get_checkpoint()                      # None, unless an earlier attempt saved one
    w = ckpt.arrays["w"] if ckpt else init()
    for epoch in range((ckpt.step if ckpt else 0) + 1, 11):
        w = train_one_epoch(w)
        report(epoch, val_accuracy(w))           # raises TrialPruned when the pruner stops it
        save_checkpoint(epoch, {"w": w})         # a retried or resumed attempt continues here
    return val_accuracy(w)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sparktf.errors import TrialPruned
from sparktf.trial.context import Checkpoint, current_trial, known, report

__all__ = [
    "Checkpoint",
    "TrialPruned",
    "current_trial",
    "get_checkpoint",
    "known",
    "report",
    "save_checkpoint",
]


def save_checkpoint(
    step: int,
    arrays: dict[str, Any] | None = None,
    *,
    directory: str | Path | None = None,
    meta: dict[str, Any] | None = None,
) -> bool:
    """Save the trial's state after ``step`` (an epoch), replacing its previous checkpoint.

    Written atomically to the study's checkpoint store (``--checkpoint-dir``): a retried
    attempt (lost worker, crashed task) or a ``--resume`` after a lost driver continues from it.

    Args:
        step: the last step (epoch) trained; the next attempt continues with ``step + 1``.
        arrays: named numpy arrays (saved as ``.npz``, loaded without pickle).
        directory: a local folder whose files are saved too (e.g. a model you wrote).
        meta: small JSON-able metadata (numbers, strings, lists, dicts).

    Returns:
        True when saved; False outside a trial or when checkpoints are off (``--no-checkpoints``).
    """
    ctx = current_trial()
    return ctx is not None and ctx.save_checkpoint(step, arrays, meta, directory)


def get_checkpoint() -> Checkpoint | None:
    """The trial's last checkpoint when this attempt continues an earlier one, else None.

    Call it once, when the objective starts: the checkpoint's learning curve (the values
    reported up to its step) is replayed to the driver, so report from ``step + 1`` on.
    ``Checkpoint.directory`` is a local copy of the saved folder, if one was saved; it is
    removed when the attempt ends.
    """
    ctx = current_trial()
    return ctx.last_checkpoint() if ctx is not None else None
