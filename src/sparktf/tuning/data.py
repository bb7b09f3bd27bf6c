"""The data a study's trials train on: a built-in data set, an ImageDataset, or anything."""

from __future__ import annotations

from typing import Any

from sparktf.errors import ConfigError
from sparktf.execution.runner import ObjectiveKind
from sparktf.tuning.config import TuneConfig


def subset(ds: Any, train: int | None, test: int | None) -> Any:
    """The first ``train`` training and ``test`` test images of an ImageDataset (None: all)."""
    from sparktf.datasets import ImageDataset

    return ImageDataset(
        name=ds.name,
        x_train=ds.x_train[:train] if train else ds.x_train,
        y_train=ds.y_train[:train] if train else ds.y_train,
        x_test=ds.x_test[:test] if test else ds.x_test,
        y_test=ds.y_test[:test] if test else ds.y_test,
        class_names=ds.class_names,
        source=ds.source,
    )


def load_data(cfg: TuneConfig, data: Any, kind: ObjectiveKind) -> Any:
    """The study's data: ``data`` itself (any object, for a custom objective), the data set it
    names, or ``cfg.dataset`` (Keras objectives default to Fashion-MNIST).

    Raises:
        ConfigError: a Keras objective without image data.
        DataError: the data set's files are missing or malformed.
    """
    from sparktf.datasets import ImageDataset, load

    if data is None and (cfg.dataset or kind is not ObjectiveKind.FUNCTION):
        data = cfg.dataset or "fashion-mnist"
    if isinstance(data, str):
        data = load(data, data_dir=cfg.data_dir)
    if isinstance(data, ImageDataset):
        return subset(data, cfg.train_subset, cfg.test_subset)
    if kind is not ObjectiveKind.FUNCTION:
        raise ConfigError(
            "Keras objectives need image data: a data set name (mnist, fashion-mnist) or a "
            f"sparktf.datasets.ImageDataset, got {type(data).__name__}"
        )
    return data
