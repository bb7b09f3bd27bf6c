"""Batch inference on Spark: ``predict()`` returns a DataFrame, ``run_predict()`` writes it.

The model file travels to each executor once (``SparkContext.addFile``, SHA-256 checked) and is
loaded once per Python worker, cached across tasks (workers are reused). Each task reads its
rows through an Arrow iterator (``mapInArrow``), regroups them into batches of ``batch_size``
whatever Arrow's batch size is, decodes and resizes the images with PIL, and calls the model once
per batch. A row that cannot be predicted gets an ``error`` and no ``top_k``; it is never dropped
and never fails the job.

Output columns: ``id`` (path, URL, index or id column), ``top_k`` (array of
``struct<label, class_index, probability>``, best first), ``probabilities`` (the full vector, when
asked for) and ``error`` (``"<reason>: <detail>"``, null when fine).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sparktf.errors import ConfigError
from sparktf.inference.config import PredictConfig
from sparktf.inference.images import decode_image, from_pixels, open_checked, to_batch
from sparktf.inference.inputs import Payload, check_input, load_input
from sparktf.inference.models import ModelSpec, Predictor, load_predictor, resolve_model
from sparktf.inference.reasons import Reason, RowError
from sparktf.inference.urls import FetchConfig, fetch_all

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

OUTPUT_FORMATS = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "json"}
_REASON_CODES = frozenset(r.value for r in Reason)
_TOP_K_TYPE = "array<struct<label:string,class_index:int,probability:float>>"


def output_schema(probabilities: bool) -> str:
    """The Spark schema (DDL) of ``predict()``'s result."""
    cols = ["id string", f"top_k {_TOP_K_TYPE}"]
    if probabilities:
        cols.append("probabilities array<float>")
    cols.append("error string")
    return ", ".join(cols)


@dataclass(frozen=True)
class TaskPlan:
    """What every task needs: the model, the payload kind, and the output options."""

    model: ModelSpec
    payload: Payload
    pixel_shape: tuple[int, ...] | None
    top_k: int
    probabilities: bool
    batch_size: int
    fetch: FetchConfig


# ---------------------------------------------------------------------------------------------
# Executor side. Module-level state lives as long as the (reused) Python worker.

_CACHE_SIZE = 4
_PREDICTORS: OrderedDict[str, Predictor] = OrderedDict()
_LOADS: dict[str, int] = {}
_LOCK = threading.Lock()


def worker_cache_info() -> dict[str, int]:
    """How often this process loaded each model (by cache key): 1 means loaded once."""
    return dict(_LOADS)


def _worker_predictor(spec: ModelSpec) -> Predictor:
    key = spec.cache_key
    with _LOCK:
        if key in _PREDICTORS:
            _PREDICTORS.move_to_end(key)
            return _PREDICTORS[key]
        from sparktf.keras.threads import configure_threads, task_cpus, task_gpus, visible_gpus

        configure_threads(task_cpus())
        path = None
        if spec.ship_name is not None:
            from pyspark import SparkFiles

            path = SparkFiles.get(spec.ship_name)
        with visible_gpus(task_gpus()):
            predictor = load_predictor(spec, path)
        _PREDICTORS[key] = predictor
        _LOADS[key] = _LOADS.get(key, 0) + 1
        while len(_PREDICTORS) > _CACHE_SIZE:
            _PREDICTORS.popitem(last=False)
        return predictor


def _rows(batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[str | None, Any]]:
    for batch in batches:
        ids = batch.column(0).to_pylist()
        values = batch.column(1).to_pylist()
        yield from zip(ids, values, strict=True)


def _chunks(rows: Iterator[tuple[str | None, Any]], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _prepare(plan: TaskPlan, value: Any) -> Any:
    """Decode one payload into the model's per-image input; raise RowError when it can't."""
    if isinstance(value, RowError):
        raise value
    if value is None:
        raise RowError(Reason.MISSING_INPUT, "the image bytes are null")
    spec = plan.model
    if plan.payload is Payload.PIXELS:
        assert plan.pixel_shape is not None
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


def _model_error(exc: Exception) -> RowError:
    text = str(exc).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    detail = lines[-1] if lines else type(exc).__name__
    for ln in lines:  # TensorFlow puts the useful line first or last
        if "image" in ln.lower() or "invalid" in ln.lower():
            detail = ln
            break
    return RowError(Reason.MODEL_ERROR, f"{type(exc).__name__}: {detail.strip()[:300]}")


def _record_batch(plan: TaskPlan, ids: list[Any], results: list[Any]) -> pa.RecordBatch:
    import pyarrow as pa

    spec = plan.model
    k = min(plan.top_k, spec.num_classes)
    labels_all = spec.labels
    offsets = [0]
    labels: list[str] = []
    indices: list[int] = []
    probs: list[float] = []
    full: list[Any] = []
    errors: list[str | None] = []
    null = []
    for res in results:
        if isinstance(res, RowError):
            errors.append(res.text)
            null.append(True)
            offsets.append(offsets[-1])
            full.append(None)
            continue
        vec = np.asarray(res, dtype=np.float32).reshape(-1)
        if vec.shape[0] != spec.num_classes:
            errors.append(
                RowError(
                    Reason.MODEL_ERROR,
                    f"the model answered {vec.shape[0]} scores, expected {spec.num_classes}",
                ).text
            )
            null.append(True)
            offsets.append(offsets[-1])
            full.append(None)
            continue
        top = np.argsort(-vec, kind="stable")[:k]
        labels.extend(labels_all[i] for i in top)
        indices.extend(int(i) for i in top)
        probs.extend(float(vec[i]) for i in top)
        offsets.append(offsets[-1] + k)
        errors.append(None)
        null.append(False)
        full.append(vec)
    struct = pa.StructArray.from_arrays(
        [
            pa.array(labels, pa.string()),
            pa.array(indices, pa.int32()),
            pa.array(probs, pa.float32()),
        ],
        names=["label", "class_index", "probability"],
    )
    top_k = pa.ListArray.from_arrays(
        pa.array(offsets, pa.int32()), struct, mask=pa.array(null, pa.bool_())
    )
    arrays = [pa.array([None if i is None else str(i) for i in ids], pa.string()), top_k]
    names = ["id", "top_k"]
    if plan.probabilities:
        arrays.append(
            pa.array([None if v is None else v.tolist() for v in full], pa.list_(pa.float32()))
        )
        names.append("probabilities")
    arrays.append(pa.array(errors, pa.string()))
    names.append("error")
    return pa.RecordBatch.from_arrays(arrays, names=names)


def predict_partition(
    plan: TaskPlan, batches: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    """The ``mapInArrow`` function: rows ``(id, payload)`` in, prediction rows out.

    The model is loaded on the first non-empty chunk only (an empty partition loads nothing).
    """
    predictor: Predictor | None = None
    for chunk in _chunks(_rows(batches), plan.batch_size):
        ids = [row[0] for row in chunk]
        values: list[Any] = [row[1] for row in chunk]
        if plan.payload is Payload.URLS:
            values = list(fetch_all(values, plan.fetch))
        results: list[Any] = [None] * len(chunk)
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
            if predictor is None:
                predictor = _worker_predictor(plan.model)
            for pos, res in zip(ok_pos, _run_model(predictor, plan, ok_inputs), strict=True):
                results[pos] = res
        yield _record_batch(plan, ids, results)


# ---------------------------------------------------------------------------------------------
# Driver side

_STAGE: list[Path] = []
_SHIPPED: set[tuple[str, str]] = set()


def _stage_dir() -> Path:
    if not _STAGE:
        _STAGE.append(Path(tempfile.mkdtemp(prefix="sparktf-predict-")))
        atexit.register(shutil.rmtree, str(_STAGE[0]), True)
    return _STAGE[0]


def ship_model(spark: SparkSession, spec: ModelSpec) -> None:
    """Register the model's file with Spark once per application, under a name that embeds
    its hash, so that each executor fetches it once."""
    if spec.path is None or spec.ship_name is None:
        return
    sc = spark.sparkContext
    key = (sc.applicationId, spec.ship_name)
    if key in _SHIPPED:
        return
    link = _stage_dir() / spec.ship_name
    if not link.exists():
        try:  # Spark follows symbolic links to the target's name: hard link or copy
            link.hardlink_to(Path(spec.path).resolve())
        except OSError:
            shutil.copyfile(spec.path, link)
    sc.addFile(str(link))
    _SHIPPED.add(key)


def _target_partitions(spark: SparkSession, df: DataFrame, cfg: PredictConfig) -> DataFrame:
    from sparktf.spark import task_slots

    slots = task_slots(spark)
    target = cfg.partitions or 4 * slots
    current = df.rdd.getNumPartitions()
    if cfg.partitions is not None and current != target:
        return df.repartition(target) if current < target else df.coalesce(target)
    if current > target:
        return df.coalesce(target)
    if current < slots:
        return df.repartition(target)
    return df


def check(source: Any, model: str | Path, cfg: PredictConfig) -> ModelSpec:
    """Everything checkable before Spark starts: the input path (exists, holds images) and
    the model (exists, is of a known kind, loads, fits the settings); return its spec.

    Raises:
        ConfigError: a missing or empty input, a missing or unloadable model, a wrong tensor
            name, a label count mismatch.
    """
    check_input(source, cfg)
    return resolve_model(model, cfg, _stage_dir())


def prepare(source: Any, spec: ModelSpec, cfg: PredictConfig, spark: SparkSession) -> DataFrame:
    """Read the input (an empty one is refused), ship the model; return the lazy prediction
    DataFrame.

    Raises:
        ConfigError: bad input or options.
    """
    inp = load_input(spark, source, cfg)
    ship_model(spark, spec)
    plan = TaskPlan(
        model=spec,
        payload=inp.payload,
        pixel_shape=inp.pixel_shape,
        top_k=cfg.top_k,
        probabilities=cfg.probabilities,
        batch_size=cfg.batch_size,
        fetch=cfg.fetch,
    )
    df = _target_partitions(spark, inp.df, cfg)
    return df.mapInArrow(partial(predict_partition, plan), output_schema(cfg.probabilities))


def _session(
    spark: SparkSession | None, master: str | None, conf: Mapping[str, str] | None
) -> SparkSession:
    if spark is not None:
        return spark
    from sparktf.spark import session

    return session(master, app_name="sparktf-predict", conf=conf)


def predict(
    source: Any,
    model: str | Path,
    config: PredictConfig | None = None,
    *,
    spark: SparkSession | None = None,
    master: str | None = None,
    **options: Any,
) -> DataFrame:
    """Apply a model to many images with Spark; returns a (lazy) DataFrame.

    Args:
        source: a Spark DataFrame (with an image-bytes column, or a URL column with
            ``url_column=``), or a path: image directory or glob (``'images/**/*.png'``),
            Parquet table, MNIST-format IDX file, or with ``input_format="urls"`` a text file
            of URLs.
        model: ``.keras``/``.h5`` file, SavedModel directory, frozen ``.pb`` GraphDef (with
            ``input_tensor``/``output_tensor``), a ``sparktf tune`` run directory, or a
            ``keras.applications`` name such as ``"mobilenet_v2"``.
        config: all settings; or give them as keyword ``options`` (see
            :class:`PredictConfig`; ``timeout``, ``retries``, ``max_bytes``,
            ``fetch_threads`` for URLs).
        spark: the session to use (default: ``sparktf.spark.session(master)``, started
            after the model and the input are checked).
        master: Spark master URL when no session is given.

    Returns:
        A DataFrame with ``id``, ``top_k`` (label, class_index, probability; best first),
        ``probabilities`` (with ``probabilities=True``) and ``error`` (null when fine); one row
        per input.

    Raises:
        ConfigError: a missing or unloadable model, wrong tensor name, label count mismatch,
            missing or empty input or bad option — before any Spark job runs.
    """
    cfg = (config if config is not None else PredictConfig()).with_options(**options)
    spec = check(source, model, cfg)
    return prepare(source, spec, cfg, _session(spark, master, None))


@dataclass(frozen=True)
class PredictSummary:
    """What a written prediction run did.

    Attributes:
        rows: rows written (= inputs).
        ok: rows with a prediction.
        failed: failed rows by reason code.
        seconds: wall time of the Spark job that predicted and wrote.
        out: where the output went.
    """

    rows: int
    ok: int
    failed: dict[str, int]
    seconds: float
    out: str

    @property
    def images_per_second(self) -> float:
        """Rows per second of the job (failed rows included)."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """One summary line for the terminal."""
        nfail = sum(self.failed.values())
        by_count = sorted(self.failed.items(), key=lambda x: (-x[1], x[0]))
        reasons = ", ".join(f"{k} {v}" for k, v in by_count)
        failed = f"{nfail} failed" + (f" ({reasons})" if reasons else "")
        return (
            f"{self.rows} rows: {self.ok} ok, {failed}; {self.seconds:.1f}s, "
            f"{self.images_per_second:.1f} images/s -> {self.out}"
        )


def output_format(out: str) -> str:
    """The Spark format for an output path, by its suffix.

    Raises:
        ConfigError: an unsupported suffix.
    """
    suffix = Path(out.rstrip("/")).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise ConfigError(
            f"cannot tell the output format of {out!r}: expected a name ending in .parquet, "
            ".csv or .json (JSON Lines)"
        )
    return OUTPUT_FORMATS[suffix]


class _TaskProgress:
    """Polls Spark's status tracker for the tasks of one job group and updates a bar."""

    def __init__(self, spark: SparkSession, group: str, show: bool) -> None:
        self.tracker = spark.sparkContext.statusTracker()
        self.group = group
        self.show = show
        self.succeeded = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _counts(self) -> tuple[int, int]:
        done = total = 0
        for jid in self.tracker.getJobIdsForGroup(self.group):
            job = self.tracker.getJobInfo(jid)
            if job is None:
                continue
            for sid in job.stageIds:
                stage = self.tracker.getStageInfo(sid)
                if stage is not None:
                    done += stage.numCompletedTasks
                    total += stage.numTasks
        return done, total

    def _loop(self) -> None:
        from sparktf.console import progress

        with progress(transient=True) as bar:
            task = bar.add_task("predict", total=None, status="")
            total = 0
            while not self._stop.wait(0.3):
                try:
                    done, total = self._counts()
                except Exception:  # the tracker can race with job cleanup; keep going
                    continue
                if total:
                    bar.update(task, completed=done, total=total, status="Spark tasks")
            if total and self.succeeded:  # the last line says the job is done
                bar.update(task, completed=total, total=total, status="Spark tasks")

    def __enter__(self) -> _TaskProgress:
        if self.show:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.succeeded = exc[0] is None
        self._stop.set()
        if self.show:
            self._thread.join(timeout=5)


def _is_local_path(out: str) -> bool:
    return "://" not in out and not out.startswith("file:")


def format_row(row: Any) -> str:
    """One output row as text: ``id<TAB>label 0.885, label 0.026, ...`` or ``id<TAB>error``."""
    if row["error"] is not None:
        return f"{row['id']}\terror: {row['error']}"
    top = ", ".join(f"{t['label']} {t['probability']:.3f}" for t in row["top_k"])
    return f"{row['id']}\t{top}"


@dataclass
class _Counts:
    """Rows seen, rows with a prediction, failed rows by reason code."""

    rows: int = 0
    ok: int = 0
    failed: dict[str, int] = field(default_factory=dict)

    def add(self, error: str | None) -> None:
        """Count one output row by its ``error`` column."""
        self.rows += 1
        if error is None:
            self.ok += 1
            return
        code = error.split(":", 1)[0]
        reason = code if code in _REASON_CODES else "other"
        self.failed[reason] = self.failed.get(reason, 0) + 1


@contextmanager
def _job(spark: SparkSession, progress: bool) -> Iterator[None]:
    """Run the enclosed Spark jobs in one job group, with a progress bar when asked."""
    sc = spark.sparkContext
    group = f"sparktf-predict-{uuid.uuid4().hex[:12]}"
    sc.setJobGroup(group, "sparktf predict")
    try:
        with _TaskProgress(spark, group, progress):
            yield
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
        sc.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]


def _print_rows(df: DataFrame, echo: Any) -> _Counts:
    """Pass each row to ``echo`` as text, counting them as they go by."""
    counts = _Counts()
    for row in df.toLocalIterator():
        echo(format_row(row))
        counts.add(row["error"])
    return counts


def _write(df: DataFrame, out: str, fmt: str, target: Path | None, overwrite: bool) -> _Counts:
    """Write the rows to ``out`` (one local file, or a Spark output directory elsewhere),
    counting them with an observation of the same job."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    metrics = [F.count(F.lit(1)).alias("rows"), F.count_if(F.col("error").isNull()).alias("ok")]
    for reason in Reason:
        metrics.append(
            F.count_if(F.col("error").startswith(reason.value + ":")).alias(reason.value)
        )
    obs = Observation(f"sparktf-predict-{uuid.uuid4().hex[:8]}")
    observed = df.observe(obs, *metrics)
    if fmt == "csv":
        cols = [
            F.to_json(F.col(c)).alias(c) if c in ("top_k", "probabilities") else F.col(c)
            for c in observed.columns
        ]
        observed = observed.select(*cols)
    if target is None:
        writer = observed.write.mode("overwrite" if overwrite else "errorifexists")
        _writer_options(writer, fmt).format(fmt).save(out)
    else:
        _write_single_file(observed, fmt, target)
    m = obs.get
    failed = {r.value: int(m[r.value]) for r in Reason if m.get(r.value)}
    counts = _Counts(rows=int(m["rows"]), ok=int(m["ok"]), failed=failed)
    other = counts.rows - counts.ok - sum(failed.values())
    if other:
        failed["other"] = other
    return counts


def _writer_options(writer: Any, fmt: str) -> Any:
    if fmt == "csv":  # RFC 4180 quoting: quotes doubled, not backslash-escaped
        writer = writer.option("header", "true").option("escape", '"')
    if fmt == "json":  # every row has every key; null where there is no value
        writer = writer.option("ignoreNullFields", "false")
    return writer


def write_predictions(
    df: DataFrame,
    out: str | None,
    overwrite: bool = False,
    progress: bool = True,
    echo: Any = print,
) -> PredictSummary:
    """Run the prediction job and write its rows; count rows, ok and failures by reason.

    A local ``out`` becomes one file (``preds.parquet``, ``preds.csv`` or ``preds.json`` as JSON
    Lines); any other URL (``hdfs://``, ``s3a://``) a Spark output directory. In CSV,
    ``top_k`` and ``probabilities`` are JSON text. Without ``out``, each row is passed to
    ``echo`` as one line of text (:func:`format_row`) and counted as it goes by.

    Raises:
        ConfigError: unknown suffix, or ``out`` exists and ``overwrite`` is false.
    """
    fmt = output_format(out) if out is not None else "text"
    local = out is not None and _is_local_path(out)
    target = Path(out).expanduser() if out is not None and local else None
    if target is not None and target.exists() and not overwrite:
        raise ConfigError(f"output {out} already exists: choose another name or pass --overwrite")
    t0 = time.perf_counter()
    with _job(df.sparkSession, progress):
        counts = _print_rows(df, echo) if out is None else _write(df, out, fmt, target, overwrite)
    return PredictSummary(
        rows=counts.rows,
        ok=counts.ok,
        failed=counts.failed,
        seconds=time.perf_counter() - t0,
        out=out if out is not None else "stdout",
    )


def _write_single_file(df: DataFrame, fmt: str, target: Path) -> None:
    tmp = target.parent / f".{target.name}.sparktf-{uuid.uuid4().hex[:8]}"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        writer = _writer_options(df.repartition(1).write.mode("overwrite"), fmt)
        writer.format(fmt).save(str(tmp.resolve()))
        parts = sorted(tmp.glob("part-*"))
        if len(parts) != 1:
            raise ConfigError(f"expected one output file in {tmp}, found {len(parts)}")
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        parts[0].replace(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_predict(
    source: Any,
    model: str | Path,
    out: str | None,
    config: PredictConfig | None = None,
    *,
    spark: SparkSession | None = None,
    master: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    conf: Mapping[str, str] | None = None,
) -> PredictSummary:
    """Predict and write to ``out`` (format by suffix; ``None`` prints the rows); return the
    summary. The output, the input and the model are checked before Spark starts.

    Args:
        conf: Spark configuration of the session started here (when ``spark`` is not given).

    Raises:
        ConfigError: as :func:`predict`, or a bad/existing ``out``.
    """
    cfg = config or PredictConfig()
    if out is not None:
        output_format(out)
    if (
        out is not None
        and _is_local_path(out)
        and Path(out).expanduser().exists()
        and not overwrite
    ):
        raise ConfigError(f"output {out} already exists: choose another name or pass --overwrite")
    spec = check(source, model, cfg)
    df = prepare(source, spec, cfg, _session(spark, master, conf))
    return write_predictions(df, out, overwrite=overwrite, progress=progress)
