"""Decode a :class:`~sparktf.datasets.plan.DataPlan` into arrays, on the driver or an executor.

Images are decoded, converted and resized exactly as ``sparktf predict`` does it
(:func:`sparktf.imaging.decode_image`), so a model sees the same pixels in training and
in prediction. An unreadable image is skipped and counted, never fatal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sparktf.datasets import tables
from sparktf.datasets.mnist import ImageDataset
from sparktf.datasets.plan import DataPlan, Part, image_blobs

MAX_LISTED = 20  # skipped images named in config.json (all are counted)


@dataclass(frozen=True)
class TableDataset:
    """Numeric features and labels, split into train and test (as ``ImageDataset`` is).

    Attributes:
        feature_names: the feature columns, in the order of the matrices' columns.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str
    feature_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Skipped:
    """Unreadable images left out of the data."""

    count: int = 0
    examples: tuple[str, ...] = field(default=())

    def plus(self, other: Skipped) -> Skipped:
        """Both together."""
        listed = (self.examples + other.examples)[:MAX_LISTED]
        return Skipped(self.count + other.count, listed)


def decode_part(part: Part, plan: DataPlan) -> tuple[np.ndarray, np.ndarray, Skipped]:
    """The images of ``part`` as uint8 ``(n, h, w, c)`` with their labels; what was skipped."""
    from sparktf.imaging import ImageSpec, RowError, decode_image

    assert plan.image_shape is not None
    h, w, c = plan.image_shape
    spec = ImageSpec(height=h, width=w, channels=c)
    out = np.zeros((len(part.items), h, w, c), dtype=np.uint8)
    keep = np.zeros(len(part.items), dtype=bool)
    bad: list[str] = []
    for i, (name, blob) in enumerate(image_blobs(part, plan.options, plan.table_format)):
        try:
            out[i] = decode_image(blob or b"", spec)
            keep[i] = True
        except RowError as exc:
            bad.append(f"{name}: {exc}")
    skipped = Skipped(len(bad), tuple(bad[:MAX_LISTED]))
    return out[keep], part.labels[keep], skipped


def load_images(plan: DataPlan) -> tuple[ImageDataset, Skipped]:
    """Decode the plan's images (see :func:`decode_part`)."""
    x_train, y_train, s1 = decode_part(plan.train, plan)
    x_test, y_test, s2 = decode_part(plan.test, plan)
    ds = ImageDataset(
        name=plan.options.path,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=plan.class_names,
        source=plan.options.path,
    )
    return ds, s1.plus(s2)


def load_features(plan: DataPlan) -> TableDataset:
    """The plan's feature matrices.

    Raises:
        ConfigError: a feature column is missing, not numeric or has missing values.
    """
    assert plan.table_format is not None
    names = list(plan.feature_names)

    def matrix(part: Part) -> np.ndarray:
        table = tables.read_columns(part.location, plan.table_format or "", names)
        return tables.feature_matrix(table, names, part.location.uri)[part.items]

    return TableDataset(
        name=plan.options.path,
        x_train=matrix(plan.train),
        y_train=plan.train.labels,
        x_test=matrix(plan.test),
        y_test=plan.test.labels,
        class_names=plan.class_names,
        source=plan.options.path,
        feature_names=plan.feature_names,
    )


def materialize(plan: DataPlan) -> tuple[ImageDataset | TableDataset, Skipped]:
    """The plan's data as arrays, and the unreadable images left out."""
    if plan.form.images:
        return load_images(plan)
    return load_features(plan), Skipped()
