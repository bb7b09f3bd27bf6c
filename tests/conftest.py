"""Shared fixtures: one real local Spark session for the whole test run, tiny synthetic data."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.jvm import set_environment

# Tests must not fall back to downloads or the user's cache.
os.environ.setdefault("XDG_CACHE_HOME", "/tmp/sparktf-test-cache")
# Keep TensorFlow quiet and small in tests.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The suite's JVMs start with less CPU (tests/jvm.py): the process that starts the others (the
# pytest-xdist controller, or pytest alone) makes the class-data archive if it is missing,
# unless SPARKTF_TEST_CDS=0 (a run of a few JVMs, such as CI's pyspark 3.5 pass, would spend
# more making it than it saves). It also makes the JVMs' temporary directory, which its
# pytest-xdist processes inherit, and removes it when the run ends (pytest_unconfigure).
_STARTS_THE_OTHERS = "PYTEST_XDIST_WORKER" not in os.environ
if _STARTS_THE_OTHERS:
    os.environ["SPARKTF_TEST_JVM_TMP"] = tempfile.mkdtemp(prefix="sparktf-test-jvm-")
set_environment(
    Path(os.environ["XDG_CACHE_HOME"]) / "sparktf-tests",
    make=_STARTS_THE_OTHERS and os.environ.get("SPARKTF_TEST_CDS") != "0",
    tmp=Path(os.environ["SPARKTF_TEST_JVM_TMP"]),
)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _STARTS_THE_OTHERS:
        shutil.rmtree(os.environ["SPARKTF_TEST_JVM_TMP"], ignore_errors=True)


FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Spread the slow tests (clusters, CLI subprocesses, real data) over the pytest-xdist
    processes, each first in its share: ``--dist worksteal`` hands each process a contiguous
    share of the collection at the start (then moves the end of the longest share to the
    process that ran out), so each starts on its slow tests and the many short ones fill the
    end of the run, instead of one share holding the slow tests of tests/*.py. A module's slow
    tests stay in one share, so that its module-scoped fixtures (a standalone cluster, a
    Connect cluster) start once in the run, not once per process."""
    n = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    fast = [item for item in items if item.get_closest_marker("slow") is None]
    by_module: dict[str, list[pytest.Item]] = {}
    for item in items:
        if item.get_closest_marker("slow") is not None:
            by_module.setdefault(item.nodeid.split("::")[0], []).append(item)
    slow: list[list[pytest.Item]] = [[] for _ in range(n)]
    for group in sorted(by_module.values(), key=len, reverse=True):
        min(slow, key=len).extend(group)  # the biggest modules first, each to the emptiest share
    order: list[pytest.Item] = []
    left = len(items)
    for k in range(n):  # the share sizes as worksteal cuts them: what is left // processes left
        size = left // (n - k)
        mine = slow[k][:size]
        order += mine + fast[: size - len(mine)]
        del fast[: size - len(mine)]
        left -= size
    placed = set(order)
    items[:] = order + [item for item in items if item not in placed]


# The suite runs on classic local Spark; with SPARKTF_TEST_SPARK=connect, the tests that take
# their session from the fixtures below run on Spark Connect instead: a real Connect server on
# local[2] in its own process (pyspark allows one kind of session per process, so the Connect
# pass is a pytest run of its own; see .ci/run).
CONNECT = os.environ.get("SPARKTF_TEST_SPARK", "classic") == "connect"
connect_only = pytest.mark.skipif(
    not CONNECT, reason="runs in the Connect pass (SPARKTF_TEST_SPARK=connect)"
)
classic_only = pytest.mark.skipif(CONNECT, reason="classic sessions only")


@pytest.fixture(scope="session")
def connect_url() -> Iterator[str | None]:
    """The Connect server's sc:// URL in the Connect pass (None in the classic pass); also
    set as $SPARK_REMOTE, so that sparktf commands run by the tests use it."""
    if not CONNECT:
        yield None
        return
    from sparktf.connect import local_connect_server

    with local_connect_server("local[2]") as url:
        os.environ["SPARK_REMOTE"] = url
        yield url
        os.environ.pop("SPARK_REMOTE", None)


@pytest.fixture(scope="session")
def spark(connect_url: str | None) -> Iterator[object]:
    """A real Spark session with two task slots: classic local[2], or Spark Connect on a
    local[2] server in the Connect pass."""
    from sparktf.spark import session

    if connect_url is not None:
        s = session(remote=connect_url, app_name="sparktf-tests")
    else:
        s = session("local[2]", app_name="sparktf-tests", conf={"spark.ui.enabled": "false"})
    yield s
    s.stop()


@pytest.fixture(scope="session")
def connect_spark(spark: object, connect_url: str | None) -> object:
    """The Spark Connect session of the Connect pass (skipped in the classic pass)."""
    if connect_url is None:
        pytest.skip("runs in the Connect pass (SPARKTF_TEST_SPARK=connect)")
    return spark


@pytest.fixture(scope="session")
def spark_opts(connect_url: str | None) -> dict[str, str]:
    """How tests name this pass's Spark to sparktf: {"master": ...} or {"remote": ...}."""
    return {"remote": connect_url} if connect_url else {"master": "local[2]"}


@pytest.fixture(scope="session")
def spark_flags(spark_opts: dict[str, str]) -> list[str]:
    """The same as command-line flags: ["--master", "local[2]"] or ["--remote", URL]."""
    return [f"--{key}" for key in spark_opts] + list(spark_opts.values())


@pytest.fixture(params=["slot", "trial"] if CONNECT else [None], ids=lambda d: d or "classic")
def backend_flags(request: pytest.FixtureRequest, spark_flags: list[str]) -> list[str]:
    """``spark_flags``, and in the Connect pass each Connect backend in turn (``--dispatch
    slot``, ``--dispatch trial``); the classic pass runs its default backend."""
    return spark_flags + ([] if request.param is None else ["--dispatch", request.param])


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
