"""Fixtures for the inference tests: tiny real Keras models and image files, built once."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

GRAY_SHAPE = (28, 28, 1)


def build_gray_model(seed: int = 0) -> object:
    """A small CNN: 28x28x1 floats in [0, 1] -> softmax over 10 classes (untrained)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(GRAY_SHAPE),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    return model


def build_rgb_model(size: int = 32, seed: int = 1) -> object:
    """A small RGB model: size x size x 3 floats -> softmax over 5 classes."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((size, size, 3)),
            keras.layers.Conv2D(3, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )


@pytest.fixture(scope="session")
def gray_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "gray.keras"
    build_gray_model().save(path)  # type: ignore[attr-defined]
    return path


@pytest.fixture(scope="session")
def rgb_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "rgb.keras"
    build_rgb_model().save(path)  # type: ignore[attr-defined]
    return path


def encode(arr: np.ndarray, fmt: str, mode: str | None = None) -> bytes:
    """Encode a uint8 array as an image file's bytes."""
    buf = io.BytesIO()
    img = Image.fromarray(arr, mode) if mode else Image.fromarray(arr)
    img.save(buf, fmt)
    return buf.getvalue()


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth RGB test picture (gradients plus noise) so that resizing matters."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / max(w - 1, 1), y * 255 / max(h - 1, 1), (x + y) % 256], -1)
    return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def good_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve valid images of mixed formats and sizes (PNG/JPEG, gray/RGB)."""
    d = tmp_path_factory.mktemp("good")
    for i in range(12):
        arr = photo(20 + 3 * i, 30 + 2 * i, seed=i)
        if i % 3 == 0:
            (d / f"img{i:02d}.png").write_bytes(encode(arr[:, :, 0], "PNG"))
        elif i % 3 == 1:
            (d / f"img{i:02d}.jpg").write_bytes(encode(arr, "JPEG"))
        else:
            (d / f"img{i:02d}.png").write_bytes(encode(arr, "PNG"))
    return d


@pytest.fixture(scope="module")
def keras_gray(gray_model_path: Path) -> Iterator[object]:
    import keras

    yield keras.saving.load_model(gray_model_path)
