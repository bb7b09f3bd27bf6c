"""Running a prediction job and writing its rows: one file, a Spark output directory, or stdout;
the counts of a run (rows, ok, failed rows by reason) and its summary line.

Output formats by suffix: ``.parquet``, ``.csv`` (``top_k``/``probabilities`` as JSON text) and
``.json`` (JSON Lines). A local path becomes one file; any other URL a Spark output directory.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparktf.errors import ConfigError
from sparktf.imaging import Reason
from sparktf.inference.jobs import job_scope

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

OUTPUT_FORMATS = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "json"}
_REASON_CODES = frozenset(r.value for r in Reason)


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


def is_local_path(out: str) -> bool:
    return "://" not in out and not out.startswith("file:")


def format_row(row: Any) -> str:
    """One output row as text: ``id<TAB>label 0.885, label 0.026, ...`` or ``id<TAB>error``."""
    if row["error"] is not None:
        return f"{row['id']}\terror: {row['error']}"
    top = ", ".join(f"{t['label']} {t['probability']:.3f}" for t in row["top_k"])
    return f"{row['id']}\t{top}"


@dataclass
class Counts:
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


def _print_rows(df: DataFrame, echo: Any) -> Counts:
    """Pass each row to ``echo`` as text, counting them as they go by."""
    counts = Counts()
    for row in df.toLocalIterator():
        echo(format_row(row))
        counts.add(row["error"])
    return counts


def count_metrics() -> list[Column]:
    """Aggregates that count a prediction's rows: ``rows``, ``ok`` and one per reason code
    (for ``DataFrame.observe``, in batch jobs and in each micro-batch of a stream)."""
    from pyspark.sql import functions as F

    metrics = [F.count(F.lit(1)).alias("rows"), F.count_if(F.col("error").isNull()).alias("ok")]
    for reason in Reason:
        metrics.append(
            F.count_if(F.col("error").startswith(reason.value + ":")).alias(reason.value)
        )
    return metrics


def counts_of(metrics: Mapping[str, Any]) -> Counts:
    """The :class:`Counts` of observed :func:`count_metrics` (a Row or a dict)."""
    failed = {r.value: int(metrics[r.value]) for r in Reason if metrics[r.value]}
    counts = Counts(rows=int(metrics["rows"]), ok=int(metrics["ok"]), failed=failed)
    other = counts.rows - counts.ok - sum(failed.values())
    if other:
        failed["other"] = other
    return counts


def _write(df: DataFrame, out: str, fmt: str, target: Path | None, overwrite: bool) -> Counts:
    """Write the rows to ``out`` (one local file, or a Spark output directory elsewhere),
    counting them with an observation of the same job."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    obs = Observation(f"sparktf-predict-{uuid.uuid4().hex[:8]}")
    observed = df.observe(obs, *count_metrics())
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
    return counts_of(obs.get)


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
    local = out is not None and is_local_path(out)
    target = Path(out).expanduser() if out is not None and local else None
    if target is not None and target.exists() and not overwrite:
        raise ConfigError(f"output {out} already exists: choose another name or pass --overwrite")
    t0 = time.perf_counter()
    with job_scope(df.sparkSession, progress):
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
