"""Locating, downloading and loading MNIST-format data sets."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sparktf.datasets import DatasetSpec, load, load_fashion_mnist
from sparktf.datasets.mnist import SPLIT_FILES
from sparktf.errors import DataError
from tests.conftest import FASHION_DIR, make_idx_dataset, needs_fashion


def _spec(tmp: Path, mirrors: tuple[str, ...], sha: dict[str, str] | None = None) -> DatasetSpec:
    files = [f"{stem}.gz" for pair in SPLIT_FILES.values() for stem in pair]
    return DatasetSpec(
        name="tiny-digits",
        sha256=sha or dict.fromkeys(files, "0" * 64),
        mirrors=mirrors,
        system_dirs=(tmp / "system",),
    )


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("SPARKTF_DATA", raising=False)
    return tmp_path


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    served = tmp_path / "served"
    served.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **k: object) -> None:
            super().__init__(*a, directory=str(served), **k)  # type: ignore[arg-type]

        def log_message(self, *a: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", served
    server.shutdown()


@needs_fashion
def test_fashion_mnist_from_debian_location(isolated: Path) -> None:
    ds = load_fashion_mnist(download=False)
    assert ds.source == str(FASHION_DIR)
    assert ds.x_train.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    assert ds.y_train.shape == (60000,) and ds.y_test.shape == (10000,)
    assert ds.x_train.dtype == np.uint8
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.class_names[9] == "Ankle boot"


def test_offline_and_missing_lists_every_place(isolated: Path) -> None:
    spec = _spec(isolated, mirrors=("http://127.0.0.1:9/",))  # nothing listens on port 9
    with pytest.raises(DataError) as err:
        load(spec, data_dir=isolated / "mine", download=True)
    msg = str(err.value)
    assert "tiny-digits data set was not found" in msg
    for place in (isolated / "mine", isolated / "system", isolated / "cache" / "sparktf"):
        assert str(place) in msg
    assert "http://127.0.0.1:9/train-images-idx3-ubyte.gz" in msg
    assert "SPARKTF_DATA" in msg and "--data-dir" in msg


def test_lookup_order_data_dir_then_env(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = make_idx_dataset(isolated / "first", n_train=10, n_test=5)
    env = make_idx_dataset(isolated / "env" / "tiny-digits", n_train=20, n_test=5)
    spec = _spec(isolated, mirrors=())
    monkeypatch.setenv("SPARKTF_DATA", str(isolated / "env"))
    assert len(load(spec, data_dir=first, download=False).x_train) == 10
    ds = load(spec, download=False)
    assert ds.source == str(env) and len(ds.x_train) == 20


def test_download_checks_sha256_into_cache(isolated: Path, http_dir: tuple[str, Path]) -> None:
    url, served = http_dir
    make_idx_dataset(served, n_train=30, n_test=10)
    sha = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in served.iterdir()}
    spec = _spec(isolated, mirrors=("http://127.0.0.1:9/", url), sha=sha)
    ds = load(spec, download=True)
    assert ds.source == str(isolated / "cache" / "sparktf" / "tiny-digits")
    assert ds.x_train.shape == (30, 28, 28) and ds.y_test.shape == (10,)


def test_download_with_wrong_checksum_is_refused(
    isolated: Path, http_dir: tuple[str, Path]
) -> None:
    url, served = http_dir
    make_idx_dataset(served)
    spec = _spec(isolated, mirrors=(url,))  # expects all-zero digests
    with pytest.raises(DataError, match="does not match the expected"):
        load(spec, download=True)
    assert not list((isolated / "cache" / "sparktf" / "tiny-digits").glob("*.gz"))
