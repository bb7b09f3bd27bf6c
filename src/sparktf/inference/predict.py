"""Batch inference on Spark: ``predict()`` returns a DataFrame, ``run_predict()`` writes it.

The driver checks the input and the model before Spark starts, ships the model's file to the
executors once (SHA-256 checked there) and maps the input's partitions through
:func:`~sparktf.inference.partition.predict_partition` with ``mapInArrow``; the executors load
the model once per Python worker. Works on classic and Spark Connect sessions, and on streaming
DataFrames (the result is then a streaming DataFrame; see :mod:`sparktf.inference.stream`).

Output columns: ``id`` (path, URL, index or id column), ``top_k`` (array of
``struct<label, class_index, probability>``, best first), ``probabilities`` (the full vector, when
asked for) and ``error`` (``"<reason>: <detail>"``, null when fine). A row that cannot be
predicted gets an ``error``; it is never dropped and never fails the job.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparktf.console import quiet_python_api
from sparktf.errors import ConfigError
from sparktf.inference.config import PredictConfig
from sparktf.inference.inputs import ImageInput, Payload, check_input, load_input
from sparktf.inference.jobs import inline_model, ship_model, stage_dir
from sparktf.inference.models import ModelSpec, resolve_model
from sparktf.inference.partition import (
    TaskPlan,
    output_schema,
    predict_partition,
    worker_cache_info,
)
from sparktf.inference.writing import (
    OUTPUT_FORMATS,
    PredictSummary,
    format_row,
    is_local_path,
    output_format,
    write_predictions,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "OUTPUT_FORMATS",
    "PredictSummary",
    "TaskPlan",
    "check",
    "check_executors",
    "format_row",
    "open_session",
    "output_format",
    "output_schema",
    "predict",
    "predict_input",
    "prepare",
    "run_predict",
    "task_plan",
    "worker_cache_info",
    "write_predictions",
]


def _target_partitions(spark: SparkSession, inp: ImageInput, cfg: PredictConfig) -> DataFrame:
    """About 4 partitions per task slot (or ``cfg.partitions``), but no more than the input
    has batches of ``cfg.batch_size`` images where its file count is known: each task's
    Python worker loads the model once, so a partition of a few images would cost a model
    load (and on a fresh worker a TensorFlow import, seconds) for little work.

    A classic batch DataFrame is coalesced or repartitioned as its partition count requires;
    a Connect one (whose partition count the client cannot see) is coalesced when it reads
    files (then at least as many as the target: a file scan spreads them over the slots
    already), else repartitioned; a stream's micro-batches are coalesced to at most one
    partition per slot (never split: that would cost a shuffle per micro-batch)."""
    from sparktf.spark import is_connect, task_slots

    df = inp.df
    slots = task_slots(spark)
    batches = None if inp.files is None else -(-inp.files // cfg.batch_size)
    if df.isStreaming:  # a micro-batch is small: one task per slot
        if cfg.partitions:
            return df.repartition(cfg.partitions)
        return df.coalesce(min(slots, batches or slots))
    target = cfg.partitions or min(4 * slots, batches or 4 * slots)
    if is_connect(spark):
        scanned = cfg.partitions is None and inp.files is not None
        return df.coalesce(target) if scanned else df.repartition(target)
    current = df.rdd.getNumPartitions()
    if cfg.partitions is not None and current != target:
        return df.repartition(target) if current < target else df.coalesce(target)
    if current > target:
        return df.coalesce(target)
    if current < min(slots, target):
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
    return resolve_model(model, cfg, stage_dir())


def task_plan(
    spark: SparkSession,
    df: DataFrame,
    spec: ModelSpec,
    cfg: PredictConfig,
    payload: Payload,
    pixel_shape: tuple[int, ...] | None,
) -> TaskPlan:
    """Ship the model; return what every task of a prediction over ``df`` needs
    (``predict()`` and the ML Transformer)."""
    ship_model(spark, spec)
    return TaskPlan(
        model=spec,
        payload=payload,
        pixel_shape=pixel_shape,
        top_k=cfg.top_k,
        probabilities=cfg.probabilities,
        batch_size=cfg.batch_size,
        fetch=cfg.fetch,
        inline_model=inline_model(spark, spec, df.isStreaming),
    )


def predict_input(
    inp: ImageInput, spec: ModelSpec, cfg: PredictConfig, spark: SparkSession
) -> DataFrame:
    """Ship the model; return the lazy prediction DataFrame of an input (batch or stream)."""
    df = _target_partitions(spark, inp, cfg)
    plan = task_plan(spark, df, spec, cfg, inp.payload, inp.pixel_shape)
    return df.mapInArrow(partial(predict_partition, plan), output_schema(cfg.probabilities))


def prepare(source: Any, spec: ModelSpec, cfg: PredictConfig, spark: SparkSession) -> DataFrame:
    """Read the input (an empty one is refused), ship the model; return the lazy prediction
    DataFrame.

    Raises:
        ConfigError: bad input or options.
    """
    return predict_input(load_input(spark, source, cfg), spec, cfg, spark)


def open_session(
    spark: SparkSession | None,
    master: str | None,
    conf: Mapping[str, str] | None,
    remote: str | None = None,
) -> SparkSession:
    """``spark``, or a session started for prediction (classic ``master`` or Connect
    ``remote``)."""
    if spark is not None:
        return spark
    from sparktf.spark import session

    return session(master, app_name="sparktf-predict", conf=conf, remote=remote)


def predict(
    source: Any,
    model: str | Path,
    config: PredictConfig | None = None,
    *,
    spark: SparkSession | None = None,
    master: str | None = None,
    remote: str | None = None,
    **options: Any,
) -> DataFrame:
    """Apply a model to many images with Spark; returns a (lazy) DataFrame.

    Args:
        source: a Spark DataFrame (with an image-bytes column, or a URL column with
            ``url_column=``; a streaming DataFrame gives a streaming result), or a path:
            image directory or glob (``'images/**/*.png'``), Parquet table, MNIST-format IDX
            file, or with ``input_format="urls"`` a text file of URLs; for a tuned table
            model (``mlp``), a CSV or Parquet table with its feature columns.
        model: ``.keras``/``.h5`` file, SavedModel directory, frozen ``.pb`` GraphDef (with
            ``input_tensor``/``output_tensor``), a ``sparktf tune`` run directory, or a
            ``keras.applications`` name such as ``"mobilenet_v2"``.
        config: all settings; or give them as keyword ``options`` (see
            :class:`PredictConfig`; ``timeout``, ``retries``, ``max_bytes``,
            ``fetch_threads`` for URLs).
        spark: the session to use (default: ``sparktf.spark.session(master)``, started
            after the model and the input are checked).
        master: Spark master URL when no session is given.
        remote: Spark Connect URL (``sc://HOST:PORT``) when no session is given.

    Returns:
        A DataFrame with ``id``, ``top_k`` (label, class_index, probability; best first),
        ``probabilities`` (with ``probabilities=True``) and ``error`` (null when fine); one row
        per input.

    Raises:
        ConfigError: a missing or unloadable model, wrong tensor name, label count mismatch,
            missing or empty input or bad option — before any Spark job runs.
    """
    cfg = (config if config is not None else PredictConfig()).with_options(**options)
    quiet_python_api()
    from sparktf.inference.tables import check_columns, predict_table, table_model

    table = table_model(model)  # a tuned table model (mlp): table rows in, not images
    if table is not None and isinstance(source, str):
        fmt = check_columns(source, table)
        return predict_table(source, table, cfg, open_session(spark, master, None, remote), fmt)
    spec = check(source, model, cfg)
    return prepare(source, spec, cfg, open_session(spark, master, None, remote))


def run_predict(
    source: Any,
    model: str | Path,
    out: str | None,
    config: PredictConfig | None = None,
    *,
    spark: SparkSession | None = None,
    master: str | None = None,
    remote: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    conf: Mapping[str, str] | None = None,
) -> PredictSummary:
    """Predict and write to ``out`` (format by suffix; ``None`` prints the rows); return the
    summary. The output, the input and the model are checked before Spark starts.

    Args:
        remote: Spark Connect URL of the session started here (when ``spark`` is not given).
        conf: Spark configuration of the session started here (when ``spark`` is not given).

    Raises:
        ConfigError: as :func:`predict`, or a bad/existing ``out``.
    """
    cfg = config or PredictConfig()
    quiet_python_api()
    if out is not None:
        output_format(out)
    if out is not None and is_local_path(out) and Path(out).expanduser().exists() and not overwrite:
        raise ConfigError(f"output {out} already exists: choose another name or pass --overwrite")
    from sparktf.inference.tables import check_columns, run_table_predict, table_model

    table = table_model(model)  # a tuned table model (mlp): table rows in, not images
    if table is not None and isinstance(source, str):
        check_columns(source, table)
        session = check_executors(open_session(spark, master, conf, remote))
        return run_table_predict(source, table, out, cfg, session, overwrite, progress)
    spec = check(source, model, cfg)
    df = prepare(source, spec, cfg, check_executors(open_session(spark, master, conf, remote)))
    return write_predictions(df, out, overwrite=overwrite, progress=progress)


def check_executors(spark: SparkSession) -> SparkSession:
    """The preflight before a prediction job: the executors can import sparktf (the driver's
    version), TensorFlow and pyarrow, in the driver's Python version; returns ``spark``.

    Raises:
        ConfigError: a check failed (the table of checks says which, and the fix).
    """
    from sparktf.execution.preflight import Needs, run_preflight
    from sparktf.spark import is_connect, task_slots

    tasks = 2 if is_connect(spark) else task_slots(spark)  # (slots cost a job on Connect)
    run_preflight(spark, Needs(), tasks).raise_if_failed()
    return spark
