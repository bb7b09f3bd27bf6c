"""What every model family's builder shares: the inputs a model is sized from, the optimizer
by name, and the compile step of a classifier."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sparktf.errors import ConfigError


@dataclass(frozen=True)
class ModelInputs:
    """What a family's model is sized from: the data (and, for ``transfer``, the backbone).

    Attributes:
        input_shape: one input's shape (without the batch dimension).
        num_classes: the number of classes.
        feature_mean: per-feature means of the training split (``mlp`` standardises with them).
        feature_std: per-feature standard deviations of the training split.
        backbone: the ``keras.applications`` backbone (``transfer``).
        weights: the backbone's weights: a file, ``imagenet`` or ``none`` (``transfer``).
    """

    input_shape: tuple[int, ...]
    num_classes: int
    feature_mean: tuple[float, ...] | None = None
    feature_std: tuple[float, ...] | None = None
    backbone: str | None = None
    weights: str | None = None


def make_optimizer(name: str, learning_rate: float) -> Any:
    """A Keras optimizer by name (adam, sgd, rmsprop, adamw, nadam).

    Raises:
        ConfigError: unknown optimizer name.
    """
    import keras

    optimizers = {
        "adam": keras.optimizers.Adam,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
        "adamw": keras.optimizers.AdamW,
        "nadam": keras.optimizers.Nadam,
    }
    key = str(name).lower()
    if key not in optimizers:
        raise ConfigError(f"unknown optimizer {name!r}: expected one of {', '.join(optimizers)}")
    return optimizers[key](learning_rate=float(learning_rate))


def compile_classifier(model: Any, p: Mapping[str, Any]) -> Any:
    """``model`` compiled with ``p``'s ``optimizer`` and ``learning_rate``, sparse categorical
    cross-entropy and accuracy; returns it."""
    model.compile(
        optimizer=make_optimizer(p["optimizer"], p["learning_rate"]),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
