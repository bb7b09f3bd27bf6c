"""The data settings of :class:`~sparktf.tuning.config.TuneConfig`: checked and normalised.

``--data`` takes a built-in name (then it means ``--dataset``) or a path; the flags that describe
your own data need ``--data``, and the model's own settings (``--backbone``, ``--weights``) need
the ``transfer`` family.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from sparktf.errors import ConfigError

OWN_DATA_FLAGS = {
    "label_column": "--label-column",
    "image_column": "--image-column",
    "feature_columns": "--feature-columns",
    "id_column": "--id-column",
    "test_data": "--test-data",
    "test_fraction": "--test-fraction",
}
BUILT_IN_FLAGS = {
    "data_dir": "--data-dir",
    "train_subset": "--train-subset",
    "test_subset": "--test-subset",
}


class DataSettings(Protocol):
    """What these checks read of a study's configuration (a ``TuneConfig``), besides the flags
    above (read by name)."""

    @property
    def data(self) -> str | None: ...
    @property
    def dataset(self) -> str | None: ...
    @property
    def test_data(self) -> str | None: ...
    @property
    def test_fraction(self) -> float | None: ...
    @property
    def broadcast_limit(self) -> int | None: ...
    @property
    def feature_columns(self) -> list[str] | None: ...
    @property
    def image_size(self) -> list[int] | None: ...
    @property
    def objective_kind(self) -> str: ...
    @property
    def objective(self) -> str: ...
    @property
    def backbone(self) -> str | None: ...
    @property
    def weights(self) -> str | None: ...


def _builtin(name: str) -> str | None:
    """The built-in data set ``name`` names, unless a file or folder of that name exists."""
    from sparktf.datasets import DATASETS

    key = name.lower().replace("_", "-")
    key = "fashion-mnist" if key == "fashion" else key
    return key if key in DATASETS and not os.path.exists(name) else None


def _exists(path: str, flag: str) -> None:
    if "://" in path and not path.startswith("file://"):
        return  # HDFS, S3, GCS: checked when read, still before Spark starts
    local = path.removeprefix("file://")
    if not os.path.exists(os.path.expanduser(local)):
        raise ConfigError(
            f"{flag} {path}: no such file or directory (expected a folder of class subfolders, "
            "a Parquet or CSV table, or a built-in name: mnist, fashion-mnist)"
        )


def _columns(value: Any) -> list[str] | None:
    if value is None:
        return None
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [str(n).strip() for n in names if str(n).strip()]
    if not names:
        raise ConfigError("--feature-columns must name at least one column (A,B,C)")
    return names


def _size(value: Any) -> list[int] | None:
    if value is None:
        return None
    from sparktf.imaging import parse_size

    if isinstance(value, (list, tuple)):
        value = "x".join(str(v) for v in value)
    try:
        return list(parse_size(str(value)))
    except ConfigError:
        raise ConfigError(
            f"--image-size must be HEIGHTxWIDTH such as 64x64 (or one number), got {value!r}"
        ) from None


def builtin_as_dataset(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with a built-in name given as ``data`` moved to ``dataset``, the field a
    saved configuration keeps it in (so that ``--resume --data fashion-mnist`` is no change)."""
    name = _builtin(settings["data"]) if isinstance(settings.get("data"), str) else None
    if name is None:
        return settings
    return {**{k: v for k, v in settings.items() if k != "data"}, "dataset": name}


def check_data_settings(cfg: DataSettings) -> dict[str, Any]:
    """The data fields of ``cfg`` normalised (only those that change).

    Raises:
        ConfigError: a flag without the ``--data`` it describes, both ``--data NAME`` and
            another ``--dataset``, a missing path, a bad fraction, size or limit.
    """
    out: dict[str, Any] = {}
    data, dataset = cfg.data, cfg.dataset
    if data is not None and _builtin(data):
        name = _builtin(data)
        if dataset is not None and dataset != name:
            raise ConfigError(f"--data {data} and --dataset {dataset} disagree: give one")
        out.update(data=None, dataset=name)
        data, dataset = None, name
    if data is None:
        for name, flag in OWN_DATA_FLAGS.items():
            if getattr(cfg, name) is not None:
                raise ConfigError(f"{flag} describes your own data: add --data PATH")
    else:
        if dataset is not None:
            raise ConfigError(f"--data {data} and --dataset {dataset}: give one of them")
        for name, flag in BUILT_IN_FLAGS.items():
            if getattr(cfg, name) is not None:
                raise ConfigError(f"{flag} applies to the built-in data sets, not to --data PATH")
        _exists(data, "--data")
        if cfg.test_data is not None:
            _exists(cfg.test_data, "--test-data")
            if cfg.test_fraction is not None:
                raise ConfigError("give --test-data PATH or --test-fraction, not both")
    if cfg.test_fraction is not None and not 0 < cfg.test_fraction < 1:
        raise ConfigError(
            f"--test-fraction must be between 0 and 1 (the share of --data held out for the "
            f"test), got {cfg.test_fraction!r}"
        )
    if cfg.broadcast_limit is not None and (
        isinstance(cfg.broadcast_limit, bool) or cfg.broadcast_limit < 0
    ):
        raise ConfigError(f"--broadcast-limit must be >= 0 bytes, got {cfg.broadcast_limit!r}")
    out.update(_model_settings(cfg))
    columns, size = _columns(cfg.feature_columns), _size(cfg.image_size)
    if columns != cfg.feature_columns:
        out["feature_columns"] = columns
    if size != cfg.image_size:
        out["image_size"] = size
    return out


def _model_settings(cfg: DataSettings) -> dict[str, Any]:
    is_transfer = cfg.objective_kind == "family" and cfg.objective == "transfer"
    for name in ("backbone", "weights"):
        if getattr(cfg, name) is not None and not is_transfer:
            raise ConfigError(f"--{name} is about the transfer model: add --model transfer")
    if not is_transfer:
        return {}
    from sparktf.keras.transfer import DEFAULT_BACKBONE, check_weights

    return {"backbone": cfg.backbone or DEFAULT_BACKBONE, "weights": check_weights(cfg.weights)}
