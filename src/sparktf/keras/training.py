"""Train and evaluate one Keras model of a trial on prepared arrays."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sparktf.errors import ConfigError


@dataclass(frozen=True)
class PreparedData:
    """Float inputs and integer labels, split into train / validation / test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def prepare_images(
    dataset: Any, input_shape: tuple[int, ...], scale: float, val_fraction: float
) -> PreparedData:
    """Scale uint8 images to floats, reshape to ``input_shape``, hold out a validation split.

    The validation split is the last ``val_fraction`` of the training set (at least 1 image).
    """
    if not 0 < val_fraction < 1:
        raise ConfigError(f"--val-fraction must be between 0 and 1, got {val_fraction}")

    def f(x: np.ndarray) -> np.ndarray:
        return (x.astype(np.float32) * np.float32(scale)).reshape((len(x), *input_shape))

    n_val = max(1, round(len(dataset.x_train) * val_fraction))
    x, y = dataset.x_train, dataset.y_train.astype(np.int64)
    return PreparedData(
        x_train=f(x[:-n_val]),
        y_train=y[:-n_val],
        x_val=f(x[-n_val:]),
        y_val=y[-n_val:],
        x_test=f(dataset.x_test),
        y_test=dataset.y_test.astype(np.int64),
    )


def train_keras(
    build: Callable[[Mapping[str, Any]], Any],
    params: Mapping[str, Any],
    data: PreparedData,
    monitor: str = "val_accuracy",
    checkpoint_every: int | None = None,
) -> tuple[dict[str, float], Any]:
    """Build, train (reporting ``monitor`` after each epoch) and evaluate one model.

    With ``checkpoint_every``, the training state is saved every that many epochs (through
    :mod:`sparktf.trial`), and an attempt that finds a checkpoint continues after its epoch.

    Returns:
        ``(metrics, model)``; metrics: val_accuracy, val_error, val_loss, test_accuracy,
        test_error, test_loss, train_seconds, epochs.
    """
    import keras
    from sparktf.keras.callbacks import ReportCallback
    from sparktf.keras.checkpoint import CheckpointCallback, resume_point

    keras.utils.set_random_seed(int(params.get("seed", 0)))
    model = build(params)
    if not getattr(model, "optimizer", None) or not getattr(model, "compiled", True):
        raise ConfigError("the model builder must return a compiled Keras model")
    done, before = resume_point(model) if checkpoint_every else (0, {})
    callbacks: list[Any] = [ReportCallback(monitor)]
    if checkpoint_every:
        callbacks.append(CheckpointCallback(checkpoint_every, before))
    t0 = time.perf_counter()
    history = model.fit(
        data.x_train,
        data.y_train,
        batch_size=int(params.get("batch_size", 32)),
        epochs=int(params.get("epochs", 1)),
        initial_epoch=done,
        validation_data=(data.x_val, data.y_val),
        callbacks=callbacks,
        verbose=0,
    )
    train_seconds = time.perf_counter() - t0
    test = model.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)
    hist = {k: [*before.get(k, []), *v] for k, v in history.history.items()}
    val_acc = float(hist.get("val_accuracy", [float("nan")])[-1])
    metrics = {
        "val_accuracy": val_acc,
        "val_error": 1.0 - val_acc,
        "val_loss": float(hist.get("val_loss", [float("nan")])[-1]),
        "test_accuracy": float(test.get("accuracy", float("nan"))),
        "test_error": 1.0 - float(test.get("accuracy", float("nan"))),
        "test_loss": float(test.get("loss", float("nan"))),
        "train_seconds": train_seconds,
        "epochs": float(len(hist.get("loss", []))),
    }
    return metrics, model
