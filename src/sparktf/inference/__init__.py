"""Batch inference: apply a trained model to many images with Spark (``sparktf predict``).

Modules: :mod:`.models` (resolving and loading a model), :mod:`.kinds` (one handler per model
kind: Keras file, SavedModel, GraphDef, tune run directory, ``keras.applications``),
:mod:`.images` (decode/resize like Keras), :mod:`.urls` (fetching on the
executors), :mod:`.labels` (ImageNet labels shipped with sparktf), :mod:`.inputs` (files, URLs,
Parquet, IDX, DataFrames, streams), :mod:`.predict` (the driver side), :mod:`.partition` (what
each task does), :mod:`.jobs` (model shipping, job scope and progress on classic and Connect
sessions), :mod:`.writing` (output files and summaries) and :mod:`.stream` (``--stream``).
The ML Pipeline stage is :class:`sparktf.ml.ImagePredictor`.
"""

from sparktf.imaging import Reason, RowError
from sparktf.inference.config import PredictConfig
from sparktf.inference.predict import PredictSummary, predict, run_predict, write_predictions
from sparktf.inference.stream import StreamConfig, StreamSummary, run_stream

__all__ = [
    "PredictConfig",
    "PredictSummary",
    "Reason",
    "RowError",
    "StreamConfig",
    "StreamSummary",
    "predict",
    "run_predict",
    "run_stream",
    "write_predictions",
]
