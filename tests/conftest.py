"""Shared fixtures: one real local Spark session for the whole test run, tiny synthetic data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

# Tests must not fall back to downloads or the user's cache.
os.environ.setdefault("XDG_CACHE_HOME", "/tmp/sparktf-test-cache")
# Keep TensorFlow quiet and small in tests.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """A real local Spark session with two task slots."""
    from sparktf.spark import session

    s = session("local[2]", app_name="sparktf-tests", conf={"spark.ui.enabled": "false"})
    yield s
    s.stop()


def make_idx_dataset(directory: Path, n_train: int = 60, n_test: int = 20, seed: int = 0) -> Path:
    """Write a tiny MNIST-format data set (four gzipped IDX files) and return its directory."""
    from sparktf.datasets import write_idx

    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 40, size=(n, 28, 28), dtype=np.uint8)
        # class-dependent bright block so that a model can learn something quickly
        for i, lab in enumerate(labels):
            r, c = divmod(int(lab), 4)
            images[i, 2 + 6 * r : 8 + 6 * r, 2 + 6 * c : 8 + 6 * c] = 200 + lab
        write_idx(directory / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return directory


@pytest.fixture
def tiny_data_dir(tmp_path: Path) -> Path:
    """A directory with a tiny synthetic MNIST-format data set."""
    return make_idx_dataset(tmp_path / "tiny")


needs_fashion = pytest.mark.skipif(
    not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed "
    "(apt-get install dataset-fashion-mnist)",
)
