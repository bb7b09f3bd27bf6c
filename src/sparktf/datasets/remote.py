"""Data too big to broadcast: the executors read it from its path, once per Python worker.

The driver ships only a :class:`PathData` (the plan: file names, labels, splits). On an executor,
:meth:`PathData.read_on_executor` decodes the data and caches the arrays on local disk (keyed by
the plan's fingerprint), so the next Python worker on that machine, or the next study over the
same data, reads one ``.npz`` file instead of decoding every image again.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sparktf.datasets.materialize import TableDataset, materialize
from sparktf.datasets.mnist import ImageDataset
from sparktf.datasets.plan import DataPlan

DEFAULT_BROADCAST_LIMIT = 256 * 1024 * 1024  # bytes of decoded data; see README "Your own data"
CACHE_ENV = "SPARKTF_DATA_CACHE"  # where executors keep decoded data (default: the temp dir)


@dataclass(frozen=True)
class LoadStats:
    """How the executor got the data: from the cache or by decoding, and how fast."""

    rows: int
    seconds: float
    from_cache: bool

    @property
    def rows_per_s(self) -> float:
        """Rows loaded per second."""
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True)
class PathData:
    """A data set that executors read from its path (see module doc).

    Attributes:
        plan: what to read, and how.
        class_names: the classes (index = label), for the run's outputs.
        feature_names: the feature columns (tables of features).
    """

    plan: DataPlan

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.plan.class_names

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.plan.feature_names

    @property
    def key(self) -> str:
        """Names the data's content (its plan and the files' fingerprint)."""
        blob = pickle.dumps(
            (self.plan.options, self.plan.fingerprint, self.plan.image_shape, self.plan.n_val)
        )
        return "sparktf-path-" + hashlib.sha256(blob).hexdigest()[:24]

    def cache_file(self) -> Path:
        """Where this machine keeps the decoded arrays."""
        root = os.environ.get(CACHE_ENV) or os.path.join(tempfile.gettempdir(), "sparktf-data")
        return Path(root) / f"{self.key}.npz"

    def read_on_executor(self) -> ImageDataset | TableDataset:
        """The data: from this machine's cache, else read from the path (and cached)."""
        data, _ = self.read_with_stats()
        return data

    def read_with_stats(self) -> tuple[ImageDataset | TableDataset, LoadStats]:
        """:meth:`read_on_executor` and how it went."""
        t0 = time.perf_counter()
        cached = _read_cache(self.cache_file(), self.plan)
        if cached is not None:
            return cached, LoadStats(len(cached.x_train), time.perf_counter() - t0, True)
        data, _ = materialize(self.plan)
        _write_cache(self.cache_file(), data)
        return data, LoadStats(len(data.x_train), time.perf_counter() - t0, False)


def _write_cache(path: Path, data: ImageDataset | TableDataset) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(
        tmp, x_train=data.x_train, y_train=data.y_train, x_test=data.x_test, y_test=data.y_test
    )
    os.replace(tmp, path)  # atomic: a concurrent worker reads the old file or the new one


def _read_cache(path: Path, plan: DataPlan) -> Any:
    if not path.is_file():
        return None
    try:
        with np.load(path) as z:
            arrays = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError, KeyError):
        return None
    common = {
        "name": plan.options.path,
        "class_names": plan.class_names,
        "source": plan.options.path,
        **arrays,
    }
    if plan.form.images:
        return ImageDataset(**common)
    return TableDataset(**common, feature_names=plan.feature_names)
