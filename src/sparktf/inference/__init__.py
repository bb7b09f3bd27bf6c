"""Batch inference: apply a trained model to many images with Spark (``sparktf predict``).

Modules: :mod:`.models` (resolving and loading a model), :mod:`.kinds` (one handler per model
kind: Keras file, SavedModel, GraphDef, tune run directory, ``keras.applications``),
:mod:`.images` (decode/resize like Keras), :mod:`.urls` (fetching on the
executors), :mod:`.labels` (ImageNet labels shipped with sparktf), :mod:`.inputs` (files, URLs,
Parquet, IDX, DataFrames) and :mod:`.predict` (the Spark side).
"""

from sparktf.inference.config import PredictConfig
from sparktf.inference.predict import PredictSummary, predict, run_predict, write_predictions
from sparktf.inference.reasons import Reason, RowError

__all__ = [
    "PredictConfig",
    "PredictSummary",
    "Reason",
    "RowError",
    "predict",
    "run_predict",
    "write_predictions",
]
