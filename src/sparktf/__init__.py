"""sparktf: Apache Spark and TensorFlow together.

Two jobs: distributed hyperparameter tuning of Keras models (:func:`tune`) and batch inference of
trained models over many images (:func:`predict`). Heavy dependencies (Spark, TensorFlow) are
imported only when used.
"""

from __future__ import annotations

from sparktf.errors import ConfigError, DataError, SparkTFError, TrialFailed

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "SparkTFError",
    "TrialFailed",
    "__version__",
]
