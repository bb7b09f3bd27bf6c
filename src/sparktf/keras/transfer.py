"""``transfer``: a ``keras.applications`` backbone, frozen, with a new classification head.

The backbone's own ``preprocess_input`` (scaling to [-1, 1], caffe's BGR mean subtraction, torch's
mean/std, or nothing for backbones that preprocess inside) is a per-pixel affine map of the
channels. It is measured once and stored in the model as a frozen Dense layer over the channels,
so the saved model takes 0-255 RGB pixels, loads with ``safe_mode``, and predicts with no extra
step.
"""

from __future__ import annotations

import contextlib
import importlib
import io
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sparktf.errors import ConfigError
from sparktf.keras.building import ModelInputs, compile_classifier

DEFAULT_BACKBONE = "mobilenet_v2"
WEIGHT_CHOICES = ("imagenet", "none")


def _key(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def backbones() -> dict[str, str]:
    """Every ``keras.applications`` model: its key (lower case, no ``_``) -> its name."""
    import keras

    apps = keras.applications
    return {_key(n): n for n in dir(apps) if n[:1].isupper() and callable(getattr(apps, n, None))}


def backbone_constructor(name: str) -> Callable[..., Any]:
    """The ``keras.applications`` constructor ``name`` names (``mobilenet_v2``, ``ResNet50``).

    Raises:
        ConfigError: no such backbone.
    """
    import keras

    known = backbones()
    if _key(name) not in known:
        raise ConfigError(
            f"unknown backbone {name!r}: expected a keras.applications model such as "
            f"mobilenet_v2, resnet50, efficientnet_b0 (all: {', '.join(sorted(known.values()))})"
        )
    fn: Callable[..., Any] = getattr(keras.applications, known[_key(name)])
    return fn


def preprocess_function(constructor: Callable[..., Any]) -> Callable[[Any], Any]:
    """The backbone module's ``preprocess_input``."""
    module = importlib.import_module(constructor.__module__)
    fn: Callable[[Any], Any] = module.preprocess_input
    return fn


def affine_preprocessing(preprocess: Callable[[Any], Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(kernel 3x3, bias 3)`` with ``preprocess(x) == x @ kernel + bias`` per pixel.

    Raises:
        ConfigError: the backbone's preprocessing is not such a map.
    """

    def f(x: np.ndarray) -> np.ndarray:
        return np.asarray(preprocess(x.astype(np.float32).copy()), dtype=np.float64)

    zero = f(np.zeros((1, 1, 1, 3)))[0, 0, 0]
    kernel = np.stack([f(np.eye(3)[c][None, None, None] * 255.0)[0, 0, 0] - zero for c in range(3)])
    kernel /= 255.0
    probe = np.random.default_rng(0).uniform(0, 255, (1, 4, 4, 3))
    if not np.allclose(f(probe), probe @ kernel + zero, atol=1e-3):
        raise ConfigError("this backbone's preprocess_input is not a per-pixel affine map")
    return kernel.astype(np.float32), zero.astype(np.float32)


def check_weights(weights: str | None) -> str:
    """``imagenet``, ``none`` or an existing weights file.

    Raises:
        ConfigError: a file that does not exist.
    """
    from pathlib import Path

    w = (weights or "imagenet").strip()
    if w.lower() in WEIGHT_CHOICES:
        return w.lower()
    if not Path(w).is_file():
        raise ConfigError(
            f"--weights {w}: no such file; expected a weights file (.h5 / .weights.h5 of the "
            "backbone without its top), imagenet or none"
        )
    return w


def default_size(backbone: str) -> tuple[int, int]:
    """The input size the backbone was trained at (224x224 for most; 299 for Inception)."""
    import keras

    keras.backend.clear_session()
    model = backbone_constructor(backbone)(include_top=True, weights=None)
    h, w = model.input_shape[1:3]
    return (int(h or 224), int(w or 224))


def fetch_imagenet(backbone: str, input_shape: tuple[int, ...]) -> None:
    """Download the backbone's ImageNet weights into Keras' cache now (on the driver), so that
    a failed download is a clear error before the study starts.

    Raises:
        ConfigError: the download failed (no network).
    """
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # Keras' "Downloading data from ..."
            backbone_constructor(backbone)(
                include_top=False, weights="imagenet", input_shape=input_shape
            )
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"could not get the ImageNet weights of {backbone}: {exc}. Without network access, "
            "download them elsewhere and pass the file with --weights FILE (or --weights none "
            "for random weights)"
        ) from exc


def build_transfer(p: Mapping[str, Any], d: ModelInputs) -> Any:
    """The backbone (frozen but for its top ``fine_tune_layers`` layers, batch normalisation
    always frozen) on the backbone's preprocessing, global average pooling, dense
    (``head_units``), dropout, softmax over the classes."""
    import keras
    from keras import layers

    constructor = backbone_constructor(d.backbone or DEFAULT_BACKBONE)
    weights = check_weights(d.weights)
    base = constructor(
        include_top=False,
        weights=None if weights == "none" else weights,
        input_shape=d.input_shape,
    )
    _freeze(base, int(p["fine_tune_layers"]))
    kernel, bias = affine_preprocessing(preprocess_function(constructor))
    image = keras.Input(shape=d.input_shape)
    pre = layers.Dense(3, trainable=False, name="backbone_preprocessing")
    x = pre(image)
    pre.set_weights([kernel, bias])
    x = base(x, training=False)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(int(p["head_units"]), activation="relu")(x)
    x = layers.Dropout(float(p["dropout"]))(x)
    outputs = layers.Dense(d.num_classes, activation="softmax")(x)
    return compile_classifier(keras.Model(image, outputs, name=f"transfer_{base.name}"), p)


def _freeze(base: Any, top: int) -> None:
    from keras import layers

    base.trainable = top > 0
    if top <= 0:
        return
    for i, layer in enumerate(base.layers):
        in_top = i >= len(base.layers) - top
        layer.trainable = in_top and not isinstance(layer, layers.BatchNormalization)
