"""sparktf: Apache Spark and TensorFlow together.

Two jobs: distributed hyperparameter tuning of Keras models (:func:`tune`) and batch inference of
trained models over many images (:func:`predict`). Heavy dependencies (Spark, TensorFlow) are
imported only when used.
"""

from __future__ import annotations

import importlib
from typing import Any

from sparktf.errors import (
    ConfigError,
    DataError,
    SparkTFError,
    StudyFailed,
    TrialFailed,
    TrialPruned,
)
from sparktf.search.space import SearchSpace, choice, grid, loguniform, randint, uniform
from sparktf.version import __version__

# name -> "module:attribute", imported on first use so that `import sparktf` stays light
_LAZY = {
    "tune": "sparktf.tuning:tune",
    "TuneResult": "sparktf.tuning:TuneResult",
    "TuneConfig": "sparktf.tuning:TuneConfig",
    "keras_builder": "sparktf.tuning:keras_builder",
    "report_step": "sparktf.trial:report",
    "ReportCallback": "sparktf.keras.callbacks:ReportCallback",
    "predict": "sparktf.inference:predict",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, _, attr = _LAZY[name].partition(":")
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sparktf' has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "DataError",
    "ReportCallback",
    "SearchSpace",
    "SparkTFError",
    "StudyFailed",
    "TrialFailed",
    "TrialPruned",
    "TuneConfig",
    "TuneResult",
    "__version__",
    "choice",
    "grid",
    "keras_builder",
    "loguniform",
    "predict",
    "randint",
    "report_step",
    "tune",
    "uniform",
]
