"""The mnist_cnn family and the epoch-reporting callback."""

from __future__ import annotations

import numpy as np
import pytest

from sparktf.errors import ConfigError
from sparktf.keras.building import make_optimizer
from sparktf.keras.models import MNIST_CNN, build_mnist_cnn, get_family
from sparktf.trial.context import TrialContext, trial_context


def test_mnist_cnn_architecture_and_defaults() -> None:
    assert dict(MNIST_CNN.defaults) == {
        "neurons": 1024,
        "learning_rate": 1e-4,
        "batch_size": 50,
        "dropout": 0.5,
        "epochs": 1,
        "optimizer": "adam",
        "seed": 0,
    }
    model = build_mnist_cnn({"neurons": 32})
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == [
        "InputLayer",
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "Dense",
        "Dropout",
        "Dense",
    ]
    conv1, conv2 = model.layers[1], model.layers[3]
    assert conv1.filters == 32 and conv1.kernel_size == (5, 5)
    assert conv2.filters == 64 and conv2.kernel_size == (5, 5)
    assert model.layers[6].units == 32 and model.layers[7].rate == 0.5
    assert model.output_shape == (None, 10)
    assert type(model.optimizer).__name__ == "Adam"
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-4)


def test_unknown_hyperparameter_and_optimizer() -> None:
    with pytest.raises(ConfigError, match=r"unknown hyperparameter\(s\) 'layers'"):
        build_mnist_cnn({"layers": 3})
    with pytest.raises(ConfigError, match="unknown optimizer 'adamax2'"):
        make_optimizer("adamax2", 0.1)
    with pytest.raises(ConfigError, match="unknown model 'resnet'"):
        get_family("resnet")


def test_report_callback_stops_training_and_keeps_history() -> None:
    import keras
    from sparktf.keras.callbacks import ReportCallback

    class StopAtTwo:  # the driver's answers: stop at epoch 2
        def announce_measures(self, measures: dict[str, float]) -> None:
            pass

        def report(self, step: int, value: float) -> bool:
            return step == 2

    x = np.random.default_rng(0).random((40, 28, 28, 1), dtype=np.float32)
    y = np.arange(40) % 10
    model = build_mnist_cnn({"neurons": 8, "learning_rate": 1e-3})
    ctx = TrialContext(0, {}, StopAtTwo())
    with trial_context(ctx):
        hist = model.fit(
            x,
            y,
            epochs=5,
            validation_data=(x, y),
            verbose=0,
            callbacks=[ReportCallback("val_accuracy")],
        )
    assert len(hist.history["loss"]) == 2
    assert sorted(ctx.curve) == [1, 2] and ctx.pruned_at == 2
    assert isinstance(model, keras.Model)
