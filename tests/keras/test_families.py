"""The families sized from the data: cnn, mlp, transfer (shapes, classes, what is saved)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sparktf.errors import ConfigError
from sparktf.keras.building import ModelInputs
from sparktf.keras.models import FAMILIES, get_family
from sparktf.keras.transfer import (
    affine_preprocessing,
    backbone_constructor,
    default_size,
    preprocess_function,
)


def test_every_family_declares_its_hyperparameters() -> None:
    assert set(FAMILIES) == {"mnist_cnn", "cnn", "mlp", "transfer"}
    with pytest.raises(
        ConfigError, match=r"unknown hyperparameter.*'neurons'.*it takes: conv_layers"
    ):
        get_family("cnn").params({"neurons": 3})
    with pytest.raises(ConfigError, match="sized from the data"):
        get_family("mlp").build({}, None)


def test_cnn_follows_the_input_shape_and_classes() -> None:
    build = get_family("cnn").builder_for(ModelInputs((20, 12, 3), 7))
    model = build({"conv_layers": 3, "augment": "full"})
    assert model.input_shape == (None, 20, 12, 3) and model.output_shape == (None, 7)


def test_mlp_standardises_inside_the_saved_model(tmp_path: Path) -> None:
    import keras

    inputs = ModelInputs((2,), 3, feature_mean=(1000.0, 0.0), feature_std=(10.0, 1.0))
    model = get_family("mlp").builder_for(inputs)({"layers": 1})
    norm = model.layers[1]
    assert isinstance(norm, keras.layers.Normalization)
    assert np.allclose(norm(np.array([[1010.0, 2.0]])), [[1.0, 2.0]])
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    x = np.array([[990.0, -1.0]], dtype=np.float32)
    assert np.allclose(again.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("backbone", ["mobilenet_v2", "resnet50", "densenet121"])
def test_backbone_preprocessing_is_measured_exactly(backbone: str) -> None:
    fn = preprocess_function(backbone_constructor(backbone))
    kernel, bias = affine_preprocessing(fn)
    x = np.random.default_rng(1).uniform(0, 255, (2, 3, 3, 3)).astype(np.float32)
    assert np.allclose(x @ kernel + bias, fn(x.copy()), atol=1e-3)


def test_backbones_by_any_spelling_and_their_sizes() -> None:
    assert backbone_constructor("MobileNetV2") is backbone_constructor("mobilenet_v2")
    with pytest.raises(ConfigError, match="unknown backbone 'alexnet'"):
        backbone_constructor("alexnet")
    assert default_size("inception_v3") == (299, 299)
