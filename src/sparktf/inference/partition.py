"""The executor side of prediction: what one Spark task does with its rows.

The model is loaded once per Python worker and cached across tasks and micro-batches (Spark
reuses workers). A task reads its rows as Arrow batches, regroups them into batches of exactly
``batch_size`` rows whatever Arrow's batch size is, decodes and resizes the images with PIL, and
calls the model once per batch. A row that cannot be predicted gets an ``error`` and no
``top_k``; it is never dropped and never fails the task.

Two shapes of task share this code: :func:`predict_partition` (``predict()``: ``id`` and the
payload in; ``id``, ``top_k``, ``probabilities``, ``error`` out) and :func:`transform_partition`
(:class:`sparktf.ml.ImagePredictor`: every input column kept, one struct column added).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sparktf.imaging import Reason, RowError, decode_image, from_pixels, open_checked, to_batch
from sparktf.inference.inputs import Payload
from sparktf.inference.models import ModelSpec, Predictor, load_predictor
from sparktf.inference.urls import FetchConfig, fetch_all

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql.types import StructType


def result_type(probabilities: bool) -> StructType:
    """The prediction's fields: ``top_k`` (array of ``struct<label, class_index,
    probability>``, best first), ``probabilities`` (when asked for) and ``error``."""
    from pyspark.sql import types as T

    triple = T.StructType(
        [
            T.StructField("label", T.StringType()),
            T.StructField("class_index", T.IntegerType()),
            T.StructField("probability", T.FloatType()),
        ]
    )
    fields = [T.StructField("top_k", T.ArrayType(triple))]
    if probabilities:
        fields.append(T.StructField("probabilities", T.ArrayType(T.FloatType())))
    fields.append(T.StructField("error", T.StringType()))
    return T.StructType(fields)


def output_schema(probabilities: bool) -> StructType:
    """The Spark schema of ``predict()``'s result: ``id`` and :func:`result_type`."""
    from pyspark.sql import types as T

    return T.StructType([T.StructField("id", T.StringType()), *result_type(probabilities).fields])


@dataclass(frozen=True)
class TaskPlan:
    """What every task needs: the model, the payload kind, and the output options.

    ``inline_model`` is the model's file itself, for tasks that cannot fetch it from Spark's
    files (a stream on Spark Connect); ``None`` otherwise.
    """

    model: ModelSpec
    payload: Payload
    pixel_shape: tuple[int, ...] | None
    top_k: int
    probabilities: bool
    batch_size: int
    fetch: FetchConfig
    inline_model: bytes | None = None


# ---------------------------------------------------------------------------------------------
# Module-level state lives as long as the (reused) Python worker.

_CACHE_SIZE = 4
_PREDICTORS: OrderedDict[str, Predictor] = OrderedDict()
_LOADS: dict[str, int] = {}
_LOCK = threading.Lock()


def worker_cache_info() -> dict[str, int]:
    """How often this process loaded each model (by cache key): 1 means loaded once."""
    return dict(_LOADS)


def _inline_file(spec: ModelSpec, data: bytes) -> str:
    """The model file that travelled inside the task, written once in this worker."""
    import tempfile

    path = Path(tempfile.gettempdir()) / f"sparktf-models-{os.getpid()}" / str(spec.ship_name)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return str(path)


def worker_predictor(spec: ModelSpec, inline: bytes | None = None) -> Predictor:
    """The model of ``spec``, loaded on first use in this worker and cached; from ``inline``
    (the file's bytes) when given, else from Spark's files."""
    key = spec.cache_key
    with _LOCK:
        if key in _PREDICTORS:
            _PREDICTORS.move_to_end(key)
            return _PREDICTORS[key]
        from sparktf.console import silence_libraries
        from sparktf.keras.threads import configure_threads, task_cpus, task_gpus, visible_gpus

        silence_libraries()  # TensorFlow's start-up lines and warnings, unless verbose
        configure_threads(task_cpus())
        path = None
        if inline is not None:
            path = _inline_file(spec, inline)
        elif spec.ship_name is not None:
            from pyspark import SparkFiles

            path = SparkFiles.get(spec.ship_name)
        with visible_gpus(task_gpus()):
            predictor = load_predictor(spec, path)
        _PREDICTORS[key] = predictor
        _LOADS[key] = _LOADS.get(key, 0) + 1
        while len(_PREDICTORS) > _CACHE_SIZE:
            _PREDICTORS.popitem(last=False)
        return predictor


# ---------------------------------------------------------------------------------------------
# Rows in


def regroup(batches: Iterator[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """The rows of ``batches`` in batches of exactly ``size`` rows (the last one smaller),
    sliced without copying where a batch is not split."""
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        while batch.num_rows:
            take = min(size - count, batch.num_rows)
            pending.append(batch.slice(0, take))
            count += take
            batch = batch.slice(take)
            if count == size:
                yield _combine(pending, pa)
                pending, count = [], 0
    if count:
        yield _combine(pending, pa)


def _combine(parts: list[pa.RecordBatch], pa: Any) -> pa.RecordBatch:
    if len(parts) == 1:
        return parts[0]
    return pa.Table.from_batches(parts).combine_chunks().to_batches()[0]


def _prepare(plan: TaskPlan, value: Any) -> Any:
    """Decode one payload into the model's per-image input; raise RowError when it can't."""
    if isinstance(value, RowError):
        raise value
    if value is None:
        raise RowError(Reason.MISSING_INPUT, "the image bytes are null")
    spec = plan.model
    if plan.payload is Payload.PIXELS:
        if plan.pixel_shape is None:
            raise RowError(Reason.DECODE_ERROR, "raw pixels without a known image shape")
        pixels = np.frombuffer(value, dtype=np.uint8).reshape(plan.pixel_shape)
        return from_pixels(pixels, spec.image)
    if spec.takes_bytes:
        img = open_checked(value, spec.image.max_pixels)
        try:
            img.load()
        except Exception as exc:
            raise RowError(Reason.CORRUPT_IMAGE, f"{exc}") from exc
        return bytes(value)
    return decode_image(value, spec.image)


# ---------------------------------------------------------------------------------------------
# The model call


def _run_model(predictor: Predictor, plan: TaskPlan, inputs: list[Any]) -> list[Any]:
    """Scores per input, or a RowError per input when the model call fails."""
    spec = plan.model
    if spec.takes_bytes and not spec.bytes_batched:
        out: list[Any] = []
        for item in inputs:  # a graph that takes one encoded image: one call each
            try:
                out.append(np.asarray(predictor([item]))[0])
            except Exception as exc:
                out.append(_model_error(exc))
        return out
    try:
        batch = inputs if spec.takes_bytes else to_batch(inputs, spec.image)
        scores = np.asarray(predictor(batch))
    except Exception as exc:
        err = _model_error(exc)
        return [err] * len(inputs)
    return list(scores)


def read_path(uri: str | None) -> bytes | RowError:
    """The bytes of the image file at ``uri`` (local path or any URI pyarrow reads), or the
    row's error."""
    from sparktf.datasets.files import Location, read_bytes

    if not uri:
        return RowError(Reason.MISSING_INPUT, "the image path is empty")
    try:
        fs, path = Location(uri).resolve()
        return read_bytes(fs, path)
    except FileNotFoundError:
        return RowError(Reason.MISSING_INPUT, f"no such file: {uri}")
    except Exception as exc:  # permissions, a directory, an unknown scheme
        return RowError(Reason.MISSING_INPUT, f"cannot read {uri}: {exc}")


def _model_error(exc: Exception) -> RowError:
    text = str(exc).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    detail = lines[-1] if lines else type(exc).__name__
    for ln in lines:  # TensorFlow puts the useful line first or last
        if "image" in ln.lower() or "invalid" in ln.lower():
            detail = ln
            break
    return RowError(Reason.MODEL_ERROR, f"{type(exc).__name__}: {detail.strip()[:300]}")


class _Model:
    """The task's model, loaded on the first batch that has an image to predict (an empty
    partition, or one of broken files only, loads nothing)."""

    def __init__(self, plan: TaskPlan) -> None:
        self.plan = plan
        self._predictor: Predictor | None = None

    def results(self, values: list[Any]) -> list[Any]:
        """One score vector or :class:`RowError` per payload, in order."""
        plan = self.plan
        if plan.payload is Payload.URLS:
            values = list(fetch_all(values, plan.fetch))
        elif plan.payload is Payload.PATHS:
            values = [read_path(v) for v in values]
        results: list[Any] = [None] * len(values)
        ok_pos: list[int] = []
        ok_inputs: list[Any] = []
        for i, value in enumerate(values):
            try:
                ok_inputs.append(_prepare(plan, value))
                ok_pos.append(i)
            except RowError as exc:
                results[i] = exc
            except Exception as exc:  # never lose a row
                results[i] = RowError(Reason.DECODE_ERROR, f"{type(exc).__name__}: {exc}")
        if ok_inputs:
            if self._predictor is None:
                self._predictor = worker_predictor(plan.model, plan.inline_model)
            scores = _run_model(self._predictor, plan, ok_inputs)
            for pos, res in zip(ok_pos, scores, strict=True):
                results[pos] = res
        return results


# ---------------------------------------------------------------------------------------------
# Rows out


@dataclass
class _Columns:
    """The result columns being built, row by row."""

    offsets: list[int]
    labels: list[str]
    indices: list[int]
    probs: list[float]
    full: list[Any]
    errors: list[str | None]
    null: list[bool]

    def fail(self, error: RowError) -> None:
        self.errors.append(error.text)
        self.null.append(True)
        self.offsets.append(self.offsets[-1])
        self.full.append(None)

    def add(self, vec: np.ndarray, k: int, labels: tuple[str, ...]) -> None:
        top = np.argsort(-vec, kind="stable")[:k]
        self.labels.extend(labels[i] for i in top)
        self.indices.extend(int(i) for i in top)
        self.probs.extend(float(vec[i]) for i in top)
        self.offsets.append(self.offsets[-1] + k)
        self.errors.append(None)
        self.null.append(False)
        self.full.append(vec)


def _collect(plan: TaskPlan, results: list[Any]) -> _Columns:
    spec = plan.model
    k = min(plan.top_k, spec.num_classes)
    cols = _Columns([0], [], [], [], [], [], [])
    for res in results:
        if isinstance(res, RowError):
            cols.fail(res)
            continue
        vec = np.asarray(res, dtype=np.float32).reshape(-1)
        if vec.shape[0] != spec.num_classes:
            detail = f"the model answered {vec.shape[0]} scores, expected {spec.num_classes}"
            cols.fail(RowError(Reason.MODEL_ERROR, detail))
            continue
        cols.add(vec, k, spec.labels)
    return cols


def result_arrays(plan: TaskPlan, results: list[Any]) -> tuple[list[pa.Array], list[str]]:
    """The columns ``top_k``, ``probabilities`` (when asked for) and ``error`` of
    ``results`` (score vectors or :class:`RowError`), with their names."""
    import pyarrow as pa

    cols = _collect(plan, results)
    struct = pa.StructArray.from_arrays(
        [
            pa.array(cols.labels, pa.string()),
            pa.array(cols.indices, pa.int32()),
            pa.array(cols.probs, pa.float32()),
        ],
        names=["label", "class_index", "probability"],
    )
    top_k = pa.ListArray.from_arrays(
        pa.array(cols.offsets, pa.int32()), struct, mask=pa.array(cols.null, pa.bool_())
    )
    arrays: list[pa.Array] = [top_k]
    names = ["top_k"]
    if plan.probabilities:
        full = [None if v is None else v.tolist() for v in cols.full]
        arrays.append(pa.array(full, pa.list_(pa.float32())))
        names.append("probabilities")
    arrays.append(pa.array(cols.errors, pa.string()))
    names.append("error")
    return arrays, names


# ---------------------------------------------------------------------------------------------
# The two task functions


def predict_partition(
    plan: TaskPlan, batches: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    """The ``mapInArrow`` function of ``predict()``: rows ``(id, payload)`` in, prediction
    rows out (:func:`output_schema`)."""
    import pyarrow as pa

    model = _Model(plan)
    for batch in regroup(batches, plan.batch_size):
        ids = [None if i is None else str(i) for i in batch.column(0).to_pylist()]
        arrays, names = result_arrays(plan, model.results(batch.column(1).to_pylist()))
        yield pa.RecordBatch.from_arrays([pa.array(ids, pa.string()), *arrays], ["id", *names])


def transform_partition(
    plan: TaskPlan, input_col: str, output_col: str, batches: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    """The ``mapInArrow`` function of :class:`sparktf.ml.ImagePredictor`: every input column
    kept, ``output_col`` added as a struct of :func:`result_type`."""
    import pyarrow as pa

    model = _Model(plan)
    for batch in regroup(batches, plan.batch_size):
        values = batch.column(batch.schema.get_field_index(input_col)).to_pylist()
        arrays, names = result_arrays(plan, model.results(values))
        struct = pa.StructArray.from_arrays(arrays, names=names)
        yield pa.RecordBatch.from_arrays(
            [*batch.columns, struct], [*batch.schema.names, output_col]
        )
