"""Per-epoch checkpoints of a Keras trial: save its whole training state, and restore it.

The state is data only: the model's variables (weights, and the seed generators' states that
Keras keeps among them), the optimizer's variables (its step count and slots), the history so
far and NumPy's and Python's random states, saved through :mod:`sparktf.trial` (``.npz`` arrays
read without pickle, JSON metadata). A restored model is built again by the trial's own builder
from its parameters, then given the saved values, so no code is ever loaded from a checkpoint.
"""

from __future__ import annotations

import contextvars
import random
import threading
from typing import Any

import numpy as np

import keras
from sparktf.trial import Checkpoint, get_checkpoint, save_checkpoint

_MODEL, _OPT, _NP = "model/", "optimizer/", "numpy_random_keys"


def training_state(
    model: Any, epoch: int, history: dict[str, list[float]]
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and metadata of ``model``'s state after ``epoch`` epochs."""
    arrays = {f"{_MODEL}{i}": np.asarray(v) for i, v in enumerate(model.variables)}
    arrays.update({f"{_OPT}{i}": np.asarray(v) for i, v in enumerate(model.optimizer.variables)})
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    arrays[_NP] = np.asarray(keys)
    meta = {
        "epoch": int(epoch),
        "history": {k: [float(x) for x in v] for k, v in history.items()},
        "numpy_random": [kind, int(pos), int(has_gauss), float(gauss)],
        "python_random": _json_state(random.getstate()),
    }
    return arrays, meta


def _json_state(state: Any) -> Any:
    return [_json_state(s) for s in state] if isinstance(state, tuple) else state


def _tuple_state(state: Any) -> Any:
    return tuple(_tuple_state(s) for s in state) if isinstance(state, list) else state


def restore(model: Any, ckpt: Checkpoint) -> dict[str, list[float]]:
    """Give ``model`` (built by the trial's builder, compiled) the checkpoint's state.

    Returns:
        The history up to the checkpoint.

    Raises:
        ValueError: the checkpoint does not fit the model (another architecture).
    """
    arrays = ckpt.arrays
    _assign(model.variables, arrays, _MODEL)
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    _assign(model.optimizer.variables, arrays, _OPT)
    meta = ckpt.meta
    kind, pos, has_gauss, gauss = meta["numpy_random"]
    np.random.set_state((kind, arrays[_NP], pos, has_gauss, gauss))
    random.setstate(_tuple_state(meta["python_random"]))
    return {k: list(v) for k, v in meta.get("history", {}).items()}


def _assign(variables: list[Any], arrays: dict[str, np.ndarray], prefix: str) -> None:
    saved = sorted((k for k in arrays if k.startswith(prefix)), key=lambda k: int(k[len(prefix) :]))
    if len(saved) != len(variables):
        raise ValueError(
            f"the checkpoint has {len(saved)} {prefix[:-1]} variables, the model {len(variables)}"
        )
    for var, key in zip(variables, saved, strict=True):
        if tuple(var.shape) != arrays[key].shape:
            raise ValueError(
                f"{prefix}{var.path}: shape {tuple(var.shape)} in the model, "
                f"{arrays[key].shape} in the checkpoint"
            )
    for var, key in zip(variables, saved, strict=True):
        var.assign(arrays[key])


def resume_point(model: Any) -> tuple[int, dict[str, list[float]]]:
    """``(epochs already trained, history)`` from the trial's checkpoint, restored into
    ``model``; ``(0, {})`` when there is none (or it does not fit: trained from scratch)."""
    ckpt = get_checkpoint()
    if ckpt is None:
        return 0, {}
    try:
        return ckpt.step, restore(model, ckpt)
    except (KeyError, ValueError, TypeError) as exc:
        import logging

        logging.getLogger("sparktf.checkpoint").warning(
            "the trial's checkpoint does not fit its model (%s); training from scratch", exc
        )
        return 0, {}


class CheckpointCallback(keras.callbacks.Callback):
    """Save the training state every ``every`` epochs (not after the last: the trial ends).

    Args:
        every: epochs between checkpoints.
        history: the history before this ``fit`` (a resumed attempt's), kept in each checkpoint.
    """

    def __init__(self, every: int, history: dict[str, list[float]]) -> None:
        super().__init__()
        self.every = max(1, int(every))
        self.history = {k: list(v) for k, v in history.items()}
        self._writer: threading.Thread | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        done = epoch + 1
        last = done >= int(self.params.get("epochs") or 0)
        if last or self.model.stop_training or done % self.every:
            return
        # The state is copied here, between two epochs; writing it (tens of MB for a large
        # model) happens while the next epoch trains. One write at a time: a write that has
        # not finished when the next checkpoint is due is waited for.
        arrays, meta = training_state(self.model, done, self.history)
        self._wait()
        run = contextvars.copy_context().run  # the trial is a context variable of this thread
        self._writer = threading.Thread(
            target=run, args=(save_checkpoint, done, arrays), kwargs={"meta": meta}, daemon=True
        )
        self._writer.start()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._wait()

    def _wait(self) -> None:
        if self._writer is not None:
            self._writer.join()
            self._writer = None
