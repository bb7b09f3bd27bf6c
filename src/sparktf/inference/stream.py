"""Prediction on a stream: ``sparktf predict --stream`` (:func:`run_stream`).

A Structured Streaming query reads new image files from a folder (or rows appended to a
Parquet/Delta table), predicts them with the batch path's code (the model loaded once per Python
worker and kept across micro-batches; a broken file gets its error row) and writes Parquet (or
Delta) with Spark's exactly-once file sink. The checkpoint remembers which files were read and
which micro-batches were written: a stopped stream (Ctrl-C, a crash, ``--available-now``)
restarted with the same checkpoint neither labels a file twice nor skips one. Read the output
with Spark (or Delta): the sink's log (``_spark_metadata``) says which files hold committed rows.

Spark's file source reads no zero-byte file: a file must be complete when it appears (write it
under a name starting with ``.`` or ``_`` and rename it into place).
"""

from __future__ import annotations

import contextlib
import importlib.util
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparktf.errors import ConfigError, SparkTFError
from sparktf.inference.config import PredictConfig
from sparktf.inference.inputs import stream_format, stream_input
from sparktf.inference.jobs import stage_dir
from sparktf.inference.models import resolve_model
from sparktf.inference.predict import check_executors, open_session, predict_input
from sparktf.inference.writing import Counts, PredictSummary, count_metrics, counts_of

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

METRICS_NAME = "sparktf_predict"
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class StreamConfig:
    """Where a stream writes and how it runs; checked before Spark starts.

    Attributes:
        out: the output directory: Parquet, or Delta for a name ending in ``.delta`` (or an
            existing Delta table; needs the ``delta-spark`` package).
        checkpoint: the query's checkpoint directory (which files were read and written);
            the same one continues a stopped stream.
        available_now: process the files (rows) there now, then stop; else run until stopped.
        max_files_per_trigger: files per micro-batch at most (default: all new files).
        progress: print a line per micro-batch (rows, errors, images/s).
    """

    out: str
    checkpoint: str
    available_now: bool = False
    max_files_per_trigger: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.out:
            raise ConfigError("--stream needs --out: the output directory of the predictions")
        if not self.checkpoint:
            raise ConfigError(
                "--stream needs --checkpoint DIR: where the stream remembers which files it "
                "has read and written (give the same one to continue a stopped stream)"
            )
        if self.max_files_per_trigger is not None and self.max_files_per_trigger <= 0:
            raise ConfigError(
                f"--max-files-per-trigger must be positive, got {self.max_files_per_trigger}"
            )
        suffix = Path(self.out.rstrip("/")).suffix.lower()
        if suffix not in ("", ".parquet", ".delta"):
            raise ConfigError(
                f"a stream writes a Parquet (or .delta) directory, not {self.out!r}: name the "
                "output folder without a suffix, or with .parquet or .delta"
            )
        if self.format == "delta" and importlib.util.find_spec("delta") is None:
            raise ConfigError(
                f"{self.out} is a Delta table: pip install delta-spark (and start Spark with "
                "its package), or write Parquet to a folder without the .delta suffix"
            )

    @property
    def format(self) -> str:
        """``delta`` or ``parquet``: Spark's format of the output."""
        out = Path(self.out.rstrip("/")).expanduser()
        is_delta = out.suffix.lower() == ".delta" or (out / "_delta_log").is_dir()
        return "delta" if is_delta else "parquet"


@dataclass(frozen=True)
class StreamSummary:
    """What a stream did until it stopped.

    Attributes:
        batches: micro-batches that read rows.
        totals: their rows, ok and failed rows by reason, wall time and output.
        stopped: stopped by the user (Ctrl-C) or a scheduler (SIGTERM, SIGHUP) rather than
            finished (``--available-now``).
        exit_code: the process's exit status for how it ended (128 + the signal when stopped).
    """

    batches: int
    totals: PredictSummary
    stopped: bool
    exit_code: int = 0

    def line(self) -> str:
        """One summary line for the terminal."""
        how = "stopped" if self.stopped else "done"
        batches = f"{self.batches} micro-batch" + ("" if self.batches == 1 else "es")
        return f"stream {how} after {batches}: {self.totals.line()}"


@dataclass
class _Tally:
    """Micro-batches seen so far, and their counts."""

    seen: set[int] = field(default_factory=set)
    counts: Counts = field(default_factory=Counts)

    def add(self, counts: Counts) -> None:
        self.counts.rows += counts.rows
        self.counts.ok += counts.ok
        for reason, n in counts.failed.items():
            self.counts.failed[reason] = self.counts.failed.get(reason, 0) + n


def _get(progress: Any, name: str) -> Any:
    """A field of a micro-batch's progress: an attribute (pyspark 4.x, where the mapping
    view of a Connect progress misses ``numInputRows``) or a key (pyspark 3.5's dict)."""
    return getattr(progress, name) if hasattr(progress, name) else progress.get(name)


def _metrics(observed: Any) -> Mapping[str, Any]:
    """Observed metrics as a mapping: a Row, or a Connect progress's ``{values, schema}``."""
    data = observed.asDict() if hasattr(observed, "asDict") else dict(observed)
    if set(data) == {"values", "schema"}:  # Spark Connect's JSON form
        names = [f["name"] for f in data["schema"]["fields"]]
        return dict(zip(names, data["values"], strict=True))
    return data


def _batch_counts(progress: Any) -> Counts | None:
    """The counts observed in one micro-batch's progress, or ``None`` when it read nothing."""
    rows = _get(progress, "numInputRows")
    if not rows:
        return None
    observed = (_get(progress, "observedMetrics") or {}).get(METRICS_NAME)
    if observed is None:
        return Counts(rows=int(rows))
    return counts_of(_metrics(observed))


def batch_line(batch_id: int, counts: Counts, rate: float, tally: _Tally) -> str:
    """The progress line of one micro-batch."""
    errors = counts.rows - counts.ok
    total_errors = tally.counts.rows - tally.counts.ok
    return (
        f"batch {batch_id}: {counts.rows} rows, {errors} errors, {rate:.1f} images/s "
        f"(total {tally.counts.rows} rows, {total_errors} errors)"
    )


def _report(events: Iterable[Any], tally: _Tally, show: bool) -> None:
    """Count (and print a line for) each micro-batch not seen yet."""
    from sparktf.console import console

    for progress in events:
        batch_id = int(_get(progress, "batchId"))
        counts = _batch_counts(progress)
        if counts is None or batch_id in tally.seen:
            continue
        tally.seen.add(batch_id)
        tally.add(counts)
        if show:
            rate = float(_get(progress, "processedRowsPerSecond") or 0.0)
            console.print(batch_line(batch_id, counts, rate, tally), markup=False)


def _failure(query: StreamingQuery) -> SparkTFError | None:
    exc = query.exception()
    if exc is None:
        return None
    text = " ".join(str(getattr(exc, "desc", None) or exc).split())
    return SparkTFError(f"the stream failed: {text[:500]}")


def watch(query: StreamingQuery, show: bool) -> tuple[_Tally, int | None]:
    """Report each micro-batch of a running query until it ends; Ctrl-C, SIGTERM and SIGHUP
    stop it cleanly (the checkpoint stays valid). Returns the tally and, when a signal stopped
    it, the exit status for that signal (else None).

    Raises:
        SparkTFError: the query failed.
    """
    from sparktf.signals import exit_code

    tally = _Tally()
    stopped: int | None = None
    try:
        while query.isActive:
            time.sleep(POLL_SECONDS)
            _report(query.recentProgress, tally, show)
    except KeyboardInterrupt as exc:
        stopped = exit_code(exc)
        with contextlib.suppress(Exception):  # Spark may be stopping too (the same signal)
            query.stop()
    try:
        _report(query.recentProgress, tally, show)
    except Exception:
        if stopped is None:
            raise
    failure = None if stopped else _failure(query)
    if failure is not None:
        raise failure
    return tally, stopped


def start_stream(predictions: DataFrame, stream: StreamConfig) -> StreamingQuery:
    """Start writing a streaming prediction DataFrame to ``stream.out`` (file sink, counted
    per micro-batch)."""
    observed = predictions.observe(METRICS_NAME, *count_metrics())
    writer = observed.writeStream.format(stream.format).outputMode("append")
    writer = writer.option("checkpointLocation", _local_or_url(stream.checkpoint))
    writer = writer.queryName(f"sparktf_predict_{int(time.time())}")
    writer = writer.trigger(availableNow=True) if stream.available_now else writer
    return writer.start(_local_or_url(stream.out))


def _local_or_url(path: str) -> str:
    if "://" in path or path.startswith("file:"):
        return path
    return str(Path(path).expanduser().resolve())


def run_stream(
    source: Any,
    model: str | Path,
    stream: StreamConfig,
    config: PredictConfig | None = None,
    *,
    spark: SparkSession | None = None,
    master: str | None = None,
    remote: str | None = None,
    conf: Mapping[str, str] | None = None,
) -> StreamSummary:
    """Predict a stream of images into ``stream.out`` until it is stopped (Ctrl-C) or, with
    ``available_now``, until what has arrived is done. The input's form and the model are
    checked before Spark starts.

    Args:
        source: a folder (or ``'folder/**/*.png'`` glob) that new image files arrive in, a
            Parquet or Delta table that grows, or a streaming DataFrame.
        model: as :func:`sparktf.inference.predict`.
        stream: output, checkpoint and trigger settings.
        config: prediction settings.

    Raises:
        ConfigError: a bad input, model or option, before any Spark job.
        SparkTFError: the stream failed.
    """
    from sparktf.console import quiet_python_api

    quiet_python_api()
    cfg = config or PredictConfig()
    if isinstance(source, (str, Path)):
        stream_format(str(source), cfg)
    spec = resolve_model(model, cfg, stage_dir())
    session = check_executors(open_session(spark, master, conf, remote))
    inp = stream_input(session, source, cfg, stream.max_files_per_trigger)
    t0 = time.perf_counter()
    query = start_stream(predict_input(inp, spec, cfg, session), stream)
    tally, stopped = watch(query, stream.progress)
    c = tally.counts
    totals = PredictSummary(c.rows, c.ok, c.failed, time.perf_counter() - t0, stream.out)
    return StreamSummary(
        batches=len(tally.seen),
        totals=totals,
        stopped=stopped is not None,
        exit_code=stopped or 0,
    )
