"""Model families that ``sparktf tune --model NAME`` knows, with their hyperparameters."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sparktf.errors import ConfigError


@dataclass(frozen=True)
class ModelFamily:
    """A named Keras model builder and its hyperparameters' defaults.

    Attributes:
        name: the name used on the command line.
        defaults: every hyperparameter the family takes, with its default value.
        input_shape: the shape of one input (without the batch dimension).
        scale: the factor that turns stored uint8 pixels into the model's inputs.
        description: one line for ``--help``.
    """

    name: str
    build: Callable[[Mapping[str, Any]], Any]
    defaults: Mapping[str, Any]
    input_shape: tuple[int, ...]
    scale: float = 1.0 / 255.0
    description: str = ""
    training_params: frozenset[str] = field(default=frozenset({"batch_size", "epochs"}))

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


def build_mnist_cnn(params: Mapping[str, Any]) -> Any:
    """The classic TensorFlow tutorial CNN for 28×28 digits.

    Two 5×5 convolutions (32 and 64 filters, ReLU, same padding) each followed by 2×2 max
    pooling, a fully connected layer of ``neurons`` ReLU units, dropout, softmax over 10 classes.
    ``seed`` is not used here: training sets Keras' random seed from it (initial weights,
    dropout, shuffling), so a grid over ``seed`` repeats one configuration.
    """
    import keras
    from keras import layers

    p = MNIST_CNN.params(params)
    inputs = keras.Input(shape=MNIST_CNN.input_shape)
    x = layers.Conv2D(32, 5, padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 5, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(int(p["neurons"]), activation="relu")(x)
    x = layers.Dropout(float(p["dropout"]))(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="mnist_cnn")
    model.compile(
        optimizer=make_optimizer(p["optimizer"], p["learning_rate"]),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


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
)

FAMILIES: dict[str, ModelFamily] = {MNIST_CNN.name: MNIST_CNN}


def get_family(name: str) -> ModelFamily:
    """A model family by name.

    Raises:
        ConfigError: unknown name.
    """
    if name not in FAMILIES:
        raise ConfigError(f"unknown model {name!r}: expected one of {', '.join(FAMILIES)}")
    return FAMILIES[name]
