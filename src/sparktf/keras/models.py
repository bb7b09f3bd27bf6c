"""Model families that ``sparktf tune --model NAME`` knows, with their hyperparameters."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from sparktf.errors import ConfigError
from sparktf.keras.building import ModelInputs, compile_classifier


class InputForm(str, Enum):
    """What a family trains on."""

    IMAGES = "images"
    FEATURES = "features"


Build = Callable[[Mapping[str, Any], "ModelInputs | None"], Any]


@dataclass(frozen=True)
class ModelFamily:
    """A named Keras model builder and its hyperparameters' defaults.

    Attributes:
        name: the name used on the command line.
        build: ``build(params, inputs)`` -> compiled model (``inputs`` None: the family's own
            fixed ``input_shape``).
        defaults: every hyperparameter the family takes, with its default value.
        input_shape: the shape of one input (without the batch dimension); empty when it
            follows the data.
        scale: the factor that turns stored uint8 pixels into the model's inputs.
        description: one line for ``--help``.
        form: what the family trains on.
        channels: the channels it needs (None: the data's).
    """

    name: str
    build: Callable[..., Any]  # see Build
    defaults: Mapping[str, Any]
    input_shape: tuple[int, ...]
    scale: float = 1.0 / 255.0
    description: str = ""
    training_params: frozenset[str] = field(default=frozenset({"batch_size", "epochs"}))
    form: InputForm = InputForm.IMAGES
    channels: int | None = None

    def builder_for(self, inputs: ModelInputs) -> Callable[[Mapping[str, Any]], Any]:
        """``build(params)`` for this data (picklable: it travels to the executors)."""
        return functools.partial(_call_build, self.build, inputs=inputs)

    def params(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """The defaults updated with ``overrides``.

        Raises:
            ConfigError: an override names a hyperparameter the family does not take.
        """
        unknown = [k for k in overrides if k not in self.defaults]
        if unknown:
            raise ConfigError(
                f"unknown hyperparameter(s) {', '.join(map(repr, unknown))} for model "
                f"{self.name!r}; it takes: {', '.join(self.defaults)}"
            )
        return {**self.defaults, **overrides}


def _call_build(build: Build, params: Mapping[str, Any], inputs: ModelInputs) -> Any:
    return build(params, inputs)


def build_mnist_cnn(params: Mapping[str, Any], inputs: ModelInputs | None = None) -> Any:
    """The classic TensorFlow tutorial CNN for 28×28 digits.

    Two 5×5 convolutions (32 and 64 filters, ReLU, same padding) each followed by 2×2 max
    pooling, a fully connected layer of ``neurons`` ReLU units, dropout, softmax over 10 classes.
    ``seed`` is not used here: training sets Keras' random seed from it (initial weights,
    dropout, shuffling), so a grid over ``seed`` repeats one configuration. ``inputs`` may only
    confirm the fixed 28x28x1 input and 10 classes.
    """
    import keras
    from keras import layers

    p = MNIST_CNN.params(params)
    image = keras.Input(shape=MNIST_CNN.input_shape)
    x = layers.Conv2D(32, 5, padding="same", activation="relu")(image)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 5, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(int(p["neurons"]), activation="relu")(x)
    x = layers.Dropout(float(p["dropout"]))(x)
    classes = inputs.num_classes if inputs is not None else 10
    outputs = layers.Dense(classes, activation="softmax")(x)
    return compile_classifier(keras.Model(image, outputs, name="mnist_cnn"), p)


MNIST_CNN = ModelFamily(
    name="mnist_cnn",
    build=build_mnist_cnn,
    defaults={
        "neurons": 1024,
        "learning_rate": 1e-4,
        "batch_size": 50,
        "dropout": 0.5,
        "epochs": 1,
        "optimizer": "adam",
        "seed": 0,
    },
    input_shape=(28, 28, 1),
    description="two 5x5 conv layers (32, 64 filters) + max pooling, dense(neurons), dropout",
    channels=1,
)


def _needs(inputs: ModelInputs | None, family: str) -> ModelInputs:
    if inputs is None:
        raise ConfigError(f"model {family!r} is sized from the data: build it with ModelInputs")
    return inputs


def _augmentation(kind: str, channels: int) -> list[Any]:
    """Random flips/shifts/zooms, active only while training (kept in the saved model as
    layers that pass images through unchanged in prediction)."""
    from keras import layers

    kind = str(kind).lower()
    if kind in ("none", "false", "0", ""):
        return []
    if kind not in ("flip", "full", "true", "1"):
        raise ConfigError(f"augment must be none, flip or full, got {kind!r}")
    out: list[Any] = [layers.RandomFlip("horizontal")]
    if kind == "full":
        out += [layers.RandomTranslation(0.1, 0.1), layers.RandomZoom(0.1)]
    return out


def build_cnn(params: Mapping[str, Any], inputs: ModelInputs | None = None) -> Any:
    """A small convnet sized from the data: ``conv_layers`` blocks of two 3x3 convolutions
    (``filters``, doubling per block) and 2x2 max pooling, then dense(``dense_units``),
    dropout and softmax over the data's classes; optional augmentation."""
    import keras
    from keras import layers

    p, d = CNN.params(params), _needs(inputs, "cnn")
    image = keras.Input(shape=d.input_shape)
    x = image
    for layer in _augmentation(p["augment"], d.input_shape[-1]):
        x = layer(x)
    size = min(d.input_shape[0], d.input_shape[1])
    for block in range(int(p["conv_layers"])):
        width = int(p["filters"]) * 2**block
        x = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        if size >= 2:
            x = layers.MaxPooling2D(2)(x)
            size //= 2
    flat = int(x.shape[1]) * int(x.shape[2]) * int(x.shape[3])
    x = layers.Flatten()(x) if flat <= 8192 else layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(int(p["dense_units"]), activation="relu")(x)
    x = layers.Dropout(float(p["dropout"]))(x)
    outputs = layers.Dense(d.num_classes, activation="softmax")(x)
    return compile_classifier(keras.Model(image, outputs, name="cnn"), p)


CNN = ModelFamily(
    name="cnn",
    build=build_cnn,
    defaults={
        "conv_layers": 2,
        "filters": 32,
        "dense_units": 128,
        "dropout": 0.3,
        "learning_rate": 1e-3,
        "batch_size": 64,
        "epochs": 5,
        "augment": "none",
        "optimizer": "adam",
        "seed": 0,
    },
    input_shape=(),
    description="small convnet sized from the images: conv blocks (filters doubling), dense, "
    "dropout; augment: none, flip, full",
)


def build_mlp(params: Mapping[str, Any], inputs: ModelInputs | None = None) -> Any:
    """Dense layers for tables: the features standardised with the training split's
    statistics (a Normalization layer saved in the model), ``layers`` x dense(``units``) with
    dropout, softmax over the classes."""
    import numpy as np

    import keras
    from keras import layers

    p, d = MLP.params(params), _needs(inputs, "mlp")
    features = keras.Input(shape=d.input_shape)
    x = features
    if d.feature_mean is not None and d.feature_std is not None:
        std = np.asarray(d.feature_std, dtype=np.float32)
        x = layers.Normalization(
            mean=np.asarray(d.feature_mean, dtype=np.float32), variance=std * std
        )(x)
    for _ in range(int(p["layers"])):
        x = layers.Dense(int(p["units"]), activation="relu")(x)
        x = layers.Dropout(float(p["dropout"]))(x)
    outputs = layers.Dense(d.num_classes, activation="softmax")(x)
    return compile_classifier(keras.Model(features, outputs, name="mlp"), p)


MLP = ModelFamily(
    name="mlp",
    build=build_mlp,
    defaults={
        "layers": 2,
        "units": 64,
        "dropout": 0.1,
        "learning_rate": 1e-3,
        "batch_size": 32,
        "epochs": 20,
        "optimizer": "adam",
        "seed": 0,
    },
    input_shape=(),
    scale=1.0,
    description="dense layers for tables of numeric features (standardised with the training "
    "split's statistics)",
    form=InputForm.FEATURES,
)


def _build_transfer(params: Mapping[str, Any], inputs: ModelInputs | None = None) -> Any:
    from sparktf.keras.transfer import build_transfer

    return build_transfer(TRANSFER.params(params), _needs(inputs, "transfer"))


TRANSFER = ModelFamily(
    name="transfer",
    build=_build_transfer,
    defaults={
        "head_units": 128,
        "dropout": 0.2,
        "learning_rate": 1e-3,
        "fine_tune_layers": 0,
        "batch_size": 32,
        "epochs": 3,
        "optimizer": "adam",
        "seed": 0,
    },
    input_shape=(),
    scale=1.0,  # the model holds the backbone's own preprocessing of 0-255 pixels
    description="a keras.applications backbone (--backbone, --weights), frozen, with a new "
    "head; the top fine_tune_layers layers trained too",
    channels=3,
)

FAMILIES: dict[str, ModelFamily] = {f.name: f for f in (MNIST_CNN, CNN, MLP, TRANSFER)}


def get_family(name: str) -> ModelFamily:
    """A model family by name.

    Raises:
        ConfigError: unknown name.
    """
    if name not in FAMILIES:
        raise ConfigError(f"unknown model {name!r}: expected one of {', '.join(FAMILIES)}")
    return FAMILIES[name]
