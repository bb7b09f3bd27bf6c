"""IDX reader/writer: round trips and every corruption's message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sparktf.datasets import read_idx, write_idx
from sparktf.datasets.mnist import load_idx_pair
from sparktf.errors import DataError

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@settings(max_examples=30, deadline=None)
@given(
    arr=st.sampled_from(DTYPES).flatmap(
        lambda dt: arrays(dt, st.lists(st.integers(0, 5), min_size=1, max_size=3).map(tuple))
    ),
    compress=st.booleans(),
)
def test_round_trip(
    tmp_path_factory: pytest.TempPathFactory, arr: np.ndarray, compress: bool
) -> None:
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if compress else "a.idx")
    write_idx(path, arr)
    back = read_idx(path)
    assert back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") is compress


def test_reads_mnist_layout(tmp_path: Path) -> None:
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    raw = write_idx(tmp_path / "x-idx3-ubyte", images)
    assert raw.read_bytes()[:4] == bytes([0, 0, 8, 3])
    assert raw.read_bytes()[4:8] == (2).to_bytes(4, "big")
    np.testing.assert_array_equal(read_idx(raw), images)


def test_truncated_data(tmp_path: Path) -> None:
    p = write_idx(tmp_path / "x.idx", np.zeros((10, 28, 28), np.uint8))
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"truncated: header declares shape \(10, 28, 28\)"):
        read_idx(p)


def test_truncated_header(tmp_path: Path) -> None:
    p = tmp_path / "x.idx"
    p.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(DataError, match="truncated inside its header"):
        read_idx(p)


def test_truncated_gzip(tmp_path: Path) -> None:
    p = write_idx(tmp_path / "x.idx.gz", np.ones((50, 28, 28), np.uint8) * 7)
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    with pytest.raises(DataError, match="truncated or corrupt gzip"):
        read_idx(p)


def test_wrong_magic(tmp_path: Path) -> None:
    p = tmp_path / "x.idx"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(DataError, match="not an IDX file: magic number 0x89504e47"):
        read_idx(p)


def test_unknown_type_code(tmp_path: Path) -> None:
    p = tmp_path / "x.idx"
    p.write_bytes(bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 5]))
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(p)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read IDX file"):
        read_idx(tmp_path / "absent.idx")


def test_images_and_labels_of_different_counts(tmp_path: Path) -> None:
    imgs = write_idx(tmp_path / "i.gz", np.zeros((5, 28, 28), np.uint8))
    labs = write_idx(tmp_path / "l.gz", np.zeros((4,), np.uint8))
    with pytest.raises(DataError, match=r"holds 5 images but .* holds 4 labels"):
        load_idx_pair(imgs, labs)
