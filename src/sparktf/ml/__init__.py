"""Spark ML integration: a model as a stage of a ``pyspark.ml`` Pipeline.

:class:`ImagePredictor` is a Transformer that adds a prediction struct column to a DataFrame of
encoded images (batch or streaming), saved and loaded with its Pipeline.
"""

from sparktf.ml.image_predictor import ImagePredictor

__all__ = ["ImagePredictor"]
