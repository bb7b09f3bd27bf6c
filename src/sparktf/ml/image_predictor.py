"""``ImagePredictor``: a ``pyspark.ml`` Transformer that applies a trained image model.

It shares the batch path's code: the model is resolved and checked on the driver, its file
shipped once, loaded once per Python worker, and the rows are decoded and predicted in batches
of ``batchSize`` by :func:`sparktf.inference.partition.transform_partition`. Every input column
is kept; ``outputCol`` is a struct of ``top_k`` (label, class_index, probability; best first),
``probabilities`` (with ``probabilities=True``) and ``error`` (null when fine). Persistence
(``DefaultParamsWritable``) saves the Params, the model reference included (a local path is
saved absolute), so that a saved Pipeline loads in another session and process.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasOutputCol
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable

from sparktf.errors import ConfigError
from sparktf.inference.config import PredictConfig

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from sparktf.inference.models import ModelSpec

# Param name -> PredictConfig field: the Params that override prediction settings.
CONFIG_PARAMS = {
    "topK": "top_k",
    "batchSize": "batch_size",
    "probabilities": "probabilities",
    "inputSize": "input_size",
    "channels": "channels",
    "scale": "scale",
    "offset": "offset",
    "interpolation": "interpolation",
    "maxPixels": "max_pixels",
    "labels": "labels",
    "weights": "weights",
    "inputTensor": "input_tensor",
    "outputTensor": "output_tensor",
    "signature": "signature",
    "safeMode": "safe_mode",
}


def _param(name: str, doc: str, converter: Any) -> Param[Any]:
    return Param(Params._dummy(), name, doc, typeConverter=converter)


def _model_reference(model: str) -> str:
    """A local file or directory as an absolute path (so that a saved Pipeline finds it from
    another working directory); anything else (an application name, a URL) as given."""
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() else model


class ImagePredictor(
    Transformer, HasInputCol, HasOutputCol, DefaultParamsReadable, DefaultParamsWritable
):
    """Apply a trained image model to a column of encoded images (JPEG, PNG, ...).

    Params (defaults as ``sparktf predict``'s): ``model`` (a ``.keras``/``.h5`` file,
    SavedModel, ``.pb`` GraphDef, tune run directory or ``keras.applications`` name),
    ``inputCol`` (binary, default ``content``), ``outputCol`` (default ``prediction``),
    ``topK``, ``batchSize``, ``probabilities``, and the preprocessing overrides of
    :class:`~sparktf.inference.PredictConfig`: ``inputSize`` ([height, width]), ``channels``,
    ``scale``, ``offset``, ``interpolation``, ``maxPixels``, ``labels``, ``weights``,
    ``inputTensor``, ``outputTensor``, ``signature``, ``safeMode``.
    """

    model: Param[str] = _param("model", "the model to apply", TypeConverters.toString)
    topK: Param[int] = _param("topK", "labels per image", TypeConverters.toInt)
    batchSize: Param[int] = _param("batchSize", "images per model call", TypeConverters.toInt)
    probabilities: Param[bool] = _param(
        "probabilities", "also output the full probability vector", TypeConverters.toBoolean
    )
    inputSize: Param[list[int]] = _param(
        "inputSize", "[height, width] overriding the model's", TypeConverters.toListInt
    )
    channels: Param[int] = _param(
        "channels", "1 or 3, overriding the model's", TypeConverters.toInt
    )
    scale: Param[float] = _param("scale", "pixel multiplier", TypeConverters.toFloat)
    offset: Param[float] = _param("offset", "added after scaling", TypeConverters.toFloat)
    interpolation: Param[str] = _param(
        "interpolation", "resize filter (Keras names)", TypeConverters.toString
    )
    maxPixels: Param[int] = _param(
        "maxPixels", "larger images are refused (decompression bombs)", TypeConverters.toInt
    )
    labels: Param[str] = _param("labels", "label file", TypeConverters.toString)
    weights: Param[str] = _param("weights", "keras.applications weights", TypeConverters.toString)
    inputTensor: Param[str] = _param(
        "inputTensor", "GraphDef/SavedModel input", TypeConverters.toString
    )
    outputTensor: Param[str] = _param(
        "outputTensor", "GraphDef/SavedModel output", TypeConverters.toString
    )
    signature: Param[str] = _param("signature", "SavedModel signature", TypeConverters.toString)
    safeMode: Param[bool] = _param(
        "safeMode", "load Keras files in safe mode", TypeConverters.toBoolean
    )

    @keyword_only
    def __init__(
        self,
        *,
        model: str | None = None,
        inputCol: str | None = None,
        outputCol: str | None = None,
        topK: int | None = None,
        batchSize: int | None = None,
        probabilities: bool | None = None,
        inputSize: list[int] | None = None,
        channels: int | None = None,
        scale: float | None = None,
        offset: float | None = None,
        interpolation: str | None = None,
        maxPixels: int | None = None,
        labels: str | None = None,
        weights: str | None = None,
        inputTensor: str | None = None,
        outputTensor: str | None = None,
        signature: str | None = None,
        safeMode: bool | None = None,
    ) -> None:
        super().__init__()
        defaults = PredictConfig()
        self._setDefault(
            inputCol="content",
            outputCol="prediction",
            topK=defaults.top_k,
            batchSize=defaults.batch_size,
            probabilities=defaults.probabilities,
            offset=defaults.offset,
            interpolation=defaults.interpolation,
            maxPixels=defaults.max_pixels,
            safeMode=defaults.safe_mode,
        )
        self._specs: dict[tuple[str, PredictConfig], ModelSpec] = {}
        self.setParams(**self._input_kwargs)  # type: ignore[attr-defined]

    @keyword_only
    def setParams(self, **kwargs: Any) -> ImagePredictor:
        """Set Params by name (``None`` leaves one unset)."""
        given = {k: v for k, v in kwargs.items() if v is not None}
        if "model" in given:
            given["model"] = _model_reference(str(given["model"]))
        return self._set(**given)

    def setModel(self, value: str) -> ImagePredictor:
        """Set ``model``."""
        return self._set(model=_model_reference(value))

    def getModel(self) -> str:
        """The model reference."""
        return self.getOrDefault(self.model)

    def config(self) -> PredictConfig:
        """The :class:`~sparktf.inference.PredictConfig` of the Params.

        Raises:
            ConfigError: a bad value.
        """
        options: dict[str, Any] = {}
        for name, field in CONFIG_PARAMS.items():
            param = self.getParam(name)
            if self.isDefined(param):
                options[field] = self.getOrDefault(param)
        if options.get("input_size") is not None:
            options["input_size"] = tuple(options["input_size"])
        return PredictConfig.from_options(**options)

    def _spec(self, cfg: PredictConfig) -> ModelSpec:
        """The model resolved and checked on the driver, once per model and settings."""
        from sparktf.inference.jobs import stage_dir
        from sparktf.inference.models import resolve_model

        if not self.isDefined(self.model):
            raise ConfigError("ImagePredictor needs model=: a model file, run directory or name")
        key = (self.getModel(), cfg)
        if key not in self._specs:
            self._specs[key] = resolve_model(self.getModel(), cfg, stage_dir())
        return self._specs[key]

    def _check_columns(self, dataset: DataFrame) -> None:
        from pyspark.sql.types import BinaryType

        types = {f.name: f.dataType for f in dataset.schema.fields}
        col, out = self.getInputCol(), self.getOutputCol()
        if not isinstance(types.get(col), BinaryType):
            found = types[col].simpleString() if col in types else "no such column"
            raise ConfigError(
                f"ImagePredictor's inputCol {col!r} must be a binary column of encoded images "
                f"({found}; columns: {', '.join(types)})"
            )
        if out in types:
            raise ConfigError(f"ImagePredictor's outputCol {out!r} is already a column")

    def _transform(self, dataset: DataFrame) -> DataFrame:
        from pyspark.sql import types as T

        from sparktf.console import quiet_python_api
        from sparktf.inference.inputs import Payload
        from sparktf.inference.partition import result_type, transform_partition
        from sparktf.inference.predict import task_plan

        quiet_python_api()
        self._check_columns(dataset)
        cfg = self.config()
        spec = self._spec(cfg)
        plan = task_plan(dataset.sparkSession, dataset, spec, cfg, Payload.ENCODED, None)
        out = self.getOutputCol()
        schema = T.StructType(
            [*dataset.schema.fields, T.StructField(out, result_type(cfg.probabilities))]
        )
        fn = partial(transform_partition, plan, self.getInputCol(), out)
        return dataset.mapInArrow(fn, schema)
