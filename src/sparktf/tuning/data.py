"""The data a study's trials train on: a built-in data set, your own data (``--data PATH``), an
ImageDataset, or anything (for a custom objective); and the model sized from it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from sparktf.errors import ConfigError
from sparktf.execution.runner import Objective, ObjectiveKind
from sparktf.keras.building import ModelInputs
from sparktf.keras.models import InputForm, ModelFamily
from sparktf.tuning.config import TuneConfig

_UNCOUNTED = "unreadable images are skipped by the executors, uncounted here"


@dataclass(frozen=True)
class DataReport:
    """What the study trains on, for the summary and ``config.json``.

    Attributes:
        form: built-in, class folders, table of images or of features.
        source: the name or path.
        classes: the class names.
        train: training examples (without validation); val, test likewise.
        input_shape: one model input's shape.
        shipped: ``broadcast`` or ``read from path`` (by each executor).
        estimated_bytes: the decoded data's size.
        skipped: unreadable images left out (counted when the driver decoded them).
        skipped_examples: the first of them, with the reason.
        notes: other things to know.
    """

    form: str
    source: str
    classes: tuple[str, ...]
    train: int
    val: int
    test: int
    input_shape: tuple[int, ...]
    shipped: str
    estimated_bytes: int
    skipped: int = 0
    skipped_examples: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``config.json``'s ``data`` entry)."""
        return asdict(self)

    def skipped_note(self, listed_in: object) -> str:
        """The end-of-study reminder of the unreadable images skipped."""
        return f"data: {self.skipped} unreadable images were skipped (listed in {listed_in})"

    def line(self) -> str:
        """One line for the terminal."""
        shape = "x".join(map(str, self.input_shape))
        text = (
            f"data: {self.source} ({self.form}): {len(self.classes)} classes, {self.train} "
            f"train / {self.val} validation / {self.test} test, input {shape}, {self.shipped}"
        )
        if self.skipped:
            text += f"; {self.skipped} unreadable images skipped (listed in config.json)"
        return "; ".join([text, *self.notes])


@dataclass(frozen=True)
class StudyData:
    """The data to ship, the objective sized from it, and the report (None: a custom
    objective's own data)."""

    data: Any
    objective: Objective
    report: DataReport | None = None


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


def _family(obj: Objective) -> ModelFamily | None:
    from sparktf.keras.models import get_family

    return get_family(obj.name) if obj.kind is ObjectiveKind.FAMILY else None


def study_data(cfg: TuneConfig, data: Any, obj: Objective) -> StudyData:
    """The study's data and its objective sized from it (see :func:`load_data`); ``--data
    PATH`` is planned, then decoded here (broadcast) or by the executors (read from path).

    Raises:
        ConfigError: the data does not suit the model, or is unusable (see ``make_plan``).
        DataError: a built-in data set's files are missing or malformed.
    """
    family = _family(obj)
    if cfg.data is not None and data is None:
        return _own_data(cfg, obj, family)
    if family is not None and family.form is InputForm.FEATURES:
        raise ConfigError(
            f"model {family.name!r} trains on tables of numeric features: give --data "
            "TABLE.parquet|TABLE.csv --label-column NAME"
        )
    if family is not None and family.name == "transfer":
        raise ConfigError(
            "model 'transfer' needs colour images: give --data with a folder of class "
            "subfolders or a table of images (sparktf data export-images writes one)"
        )
    loaded = load_data(cfg, data, obj.kind)
    if family is None or family.input_shape or not hasattr(loaded, "x_train"):
        return StudyData(loaded, obj, _builtin_report(cfg, loaded, obj))
    shape = tuple(loaded.x_train.shape[1:]) or (1,)
    shape = (*shape, 1) if len(shape) == 2 else shape
    inputs = ModelInputs(shape, len(loaded.class_names))
    sized = replace(obj, input_shape=shape, scale=family.scale, fn=family.builder_for(inputs))
    return StudyData(loaded, sized, _builtin_report(cfg, loaded, sized))


def _builtin_report(cfg: TuneConfig, ds: Any, obj: Objective) -> DataReport | None:
    if not hasattr(ds, "x_train") or not hasattr(ds, "class_names"):
        return None
    from sparktf.datasets.splits import held_out

    n_val = held_out(len(ds.x_train), cfg.val_fraction)
    return DataReport(
        form="built-in",
        source=str(getattr(ds, "name", "")),
        classes=tuple(ds.class_names),
        train=len(ds.x_train) - n_val,
        val=n_val,
        test=len(ds.x_test),
        input_shape=tuple(obj.input_shape),
        shipped="broadcast",
        estimated_bytes=int(ds.x_train.nbytes + ds.x_test.nbytes),
    )


def _options(cfg: TuneConfig, family: ModelFamily | None) -> Any:
    from sparktf.datasets.plan import DataOptions

    size = tuple(cfg.image_size) if cfg.image_size else None
    if family is not None and family.input_shape:  # a fixed input (mnist_cnn: 28x28x1)
        size = family.input_shape[:2]
    elif family is not None and family.name == "transfer" and size is None:
        from sparktf.keras.transfer import default_size

        size = default_size(cfg.backbone or "")  # the size the backbone was trained at
    assert cfg.data is not None
    return DataOptions(
        path=cfg.data,
        label_column=cfg.label_column,
        image_column=cfg.image_column,
        feature_columns=tuple(cfg.feature_columns) if cfg.feature_columns else None,
        id_column=cfg.id_column,
        test_path=cfg.test_data,
        test_fraction=cfg.test_fraction,
        val_fraction=cfg.val_fraction,
        seed=cfg.seed or 0,
        image_size=(int(size[0]), int(size[1])) if size else None,
        channels=family.channels if family is not None else None,
    )


def _check_form(family: ModelFamily | None, plan: Any) -> None:
    if family is None:
        return
    wants_images = family.form is InputForm.IMAGES
    if wants_images != plan.form.images:
        other = "tables of numeric features (--model mlp)" if wants_images else "images"
        raise ConfigError(
            f"--data {plan.options.path} is {plan.form.described}, but model {family.name!r} "
            f"trains on {family.form.value}; use a model for {other}"
        )


def _standardisation(x_train: np.ndarray, n_val: int) -> tuple[tuple[float, ...], ...]:
    """Per-feature mean and standard deviation of the training split (validation excluded)."""
    fit = x_train[:-n_val] if n_val < len(x_train) else x_train
    mean = fit.mean(axis=0).astype(np.float64)
    std = fit.std(axis=0).astype(np.float64)
    std[~(std > 0)] = 1.0  # a constant feature stays as it is
    return tuple(map(float, mean)), tuple(map(float, std))


def _check_transfer(cfg: TuneConfig, shape: tuple[int, ...]) -> None:
    """An unknown backbone, or ImageNet weights that cannot be fetched, fail before Spark."""
    from sparktf.keras.transfer import backbone_constructor, fetch_imagenet

    backbone_constructor(cfg.backbone or "")
    if cfg.weights == "imagenet":
        fetch_imagenet(cfg.backbone or "", shape)


def _own_data(cfg: TuneConfig, obj: Objective, family: ModelFamily | None) -> StudyData:
    from sparktf.datasets.materialize import Skipped, materialize
    from sparktf.datasets.plan import make_plan
    from sparktf.datasets.remote import DEFAULT_BROADCAST_LIMIT, PathData
    from sparktf.datasets.splits import held_out

    plan = make_plan(_options(cfg, family))
    _check_form(family, plan)
    limit = DEFAULT_BROADCAST_LIMIT if cfg.broadcast_limit is None else cfg.broadcast_limit
    by_path = plan.estimated_bytes() > limit
    data: Any = PathData(plan)
    skipped = Skipped()
    if not by_path or not plan.form.images:  # features: the driver needs their statistics
        data, skipped = materialize(plan)
    n_train = len(data.x_train) if not by_path else len(plan.train.items)
    n_val = held_out(n_train, cfg.val_fraction)
    mean = std = None
    if not plan.form.images:
        mean, std = _standardisation(data.x_train, n_val)
    shape = plan.image_shape or (len(plan.feature_names),)
    if family is not None and family.name == "transfer":
        _check_transfer(cfg, shape)
    inputs = ModelInputs(shape, len(plan.class_names), mean, std, cfg.backbone, cfg.weights)
    scale = family.scale if family is not None else (1 / 255 if plan.form.images else 1.0)
    fn = family.builder_for(inputs) if family is not None else obj.fn
    sized = replace(obj, input_shape=tuple(shape), scale=scale, fn=fn)
    report = DataReport(
        form=plan.form.value,
        source=plan.options.path,
        classes=plan.class_names,
        train=n_train - n_val,
        val=n_val,
        test=len(plan.test.items) if by_path else len(data.x_test),
        input_shape=tuple(shape),
        shipped="read from path by the executors" if by_path else "broadcast",
        estimated_bytes=plan.estimated_bytes(),
        skipped=skipped.count,
        skipped_examples=skipped.examples,
        notes=(*plan.notes, _UNCOUNTED) if by_path and plan.form.images else plan.notes,
    )
    return StudyData(PathData(plan) if by_path else data, sized, report)
