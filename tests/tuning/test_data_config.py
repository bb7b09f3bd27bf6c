"""TuneConfig's data fields: --data NAME is --dataset, flags are normalised, and each flag that
needs another says which."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparktf.errors import ConfigError
from sparktf.tuning.config import TuneConfig

SPACE = {"epochs": 1}


def _cfg(tmp_path: Path, model: str = "cnn", **kw: object) -> TuneConfig:
    return TuneConfig(objective=model, space=SPACE, out=str(tmp_path / "run"), **kw)


@pytest.mark.parametrize("name", ["fashion-mnist", "fashion", "mnist", "Fashion_MNIST"])
def test_a_built_in_name_given_to_data_is_the_dataset(tmp_path: Path, name: str) -> None:
    cfg = _cfg(tmp_path, data=name)
    assert cfg.data is None and cfg.dataset in ("fashion-mnist", "mnist")


def test_own_data_settings_are_normalised_and_survive_config_json(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b,y\n1,2,0\n")
    cfg = _cfg(
        tmp_path,
        model="mlp",
        data=str(tmp_path / "t.csv"),
        feature_columns="a, b",
        label_column="y",
        image_size="32x24",
        broadcast_limit=0,
    )
    assert cfg.feature_columns == ["a", "b"] and cfg.image_size == [32, 24]
    again = TuneConfig.from_dict(cfg.to_dict())
    assert again == cfg


def test_transfer_defaults_its_backbone_and_weights(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, model="transfer", data=str(tmp_path))
    assert cfg.backbone == "mobilenet_v2" and cfg.weights == "imagenet"
    assert _cfg(tmp_path, model="transfer", data=str(tmp_path), weights="None").weights == "none"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"image_column": "img"}, "--image-column describes your own data: add --data PATH"),
        ({"data": "mnist", "dataset": "fashion-mnist"}, "disagree: give one"),
        ({"data": ".", "data_dir": "."}, "--data-dir applies to the built-in data sets"),
        ({"data": ".", "broadcast_limit": -1}, "--broadcast-limit must be >= 0"),
        ({"data": ".", "feature_columns": " , "}, "--feature-columns must name at least one"),
        ({"data": ".", "weights": "none"}, "--weights is about the transfer model"),
    ],
)
def test_bad_data_settings(tmp_path: Path, kw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _cfg(tmp_path, **kw)
