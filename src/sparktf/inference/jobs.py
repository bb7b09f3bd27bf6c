"""What prediction needs of a Spark session, classic or Spark Connect alike, through the
session layer that tuning uses too (:mod:`sparktf.execution.backends.session`).

- :func:`ship_model`: the model's file goes to every executor once per application (classic)
  or per session (Connect); executors find it with ``SparkFiles.get`` either way.
- :func:`job_scope`: the jobs of one prediction run carry a tag (a job group on classic
  sessions, a session tag on Connect), and a progress display counts their tasks.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sparktf.errors import ConfigError
from sparktf.execution.backends.session import session_jobs
from sparktf.spark import is_connect

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from sparktf.inference.models import ModelSpec

_STAGE: list[Path] = []
_SHIPPED: set[tuple[str, str]] = set()


def stage_dir() -> Path:
    """A directory of this process for files on their way to the executors (removed at exit)."""
    if not _STAGE:
        _STAGE.append(Path(tempfile.mkdtemp(prefix="sparktf-predict-")))
        atexit.register(shutil.rmtree, str(_STAGE[0]), True)
    return _STAGE[0]


def _session_key(spark: SparkSession) -> str:
    """What a shipped file is registered with: the application (classic) or the session
    (Connect: artifacts belong to one session)."""
    if is_connect(spark):
        return f"connect:{getattr(spark, 'session_id', id(spark))}"
    return f"classic:{spark.sparkContext.applicationId}"


def ship_model(spark: SparkSession, spec: ModelSpec) -> None:
    """Register the model's file with Spark once per application (or Connect session), under a
    name that embeds its hash, so that each executor fetches it once."""
    if spec.path is None or spec.ship_name is None:
        return
    key = (_session_key(spark), spec.ship_name)
    if key in _SHIPPED:
        return
    link = stage_dir() / spec.ship_name
    if not link.exists():
        try:  # Spark follows symbolic links to the target's name: hard link or copy
            link.hardlink_to(Path(spec.path).resolve())
        except OSError:
            shutil.copyfile(spec.path, link)
    session_jobs(spark).ship_file(link)
    _SHIPPED.add(key)


INLINE_LIMIT = 256 * 1024 * 1024


def inline_model(spark: SparkSession, spec: ModelSpec, streaming: bool) -> bytes | None:
    """The model file's bytes when its tasks cannot fetch it from Spark's files, else
    ``None``: a stream on Spark Connect runs its micro-batches outside the session whose
    artifacts hold the file, so the file travels inside the task (once per query).

    Raises:
        ConfigError: the file is too large to travel that way.
    """
    if not (streaming and is_connect(spark)) or spec.path is None:
        return None
    size = Path(spec.path).stat().st_size
    if size > INLINE_LIMIT:
        raise ConfigError(
            f"model {spec.source} is {size} bytes: a stream on Spark Connect ships the model "
            f"inside its tasks, up to {INLINE_LIMIT} bytes; use a classic session (--master)"
        )
    return Path(spec.path).read_bytes()


class _Display:
    """A transient progress display of the Spark tasks done, which one thread or callback
    updates. It shows no total: Spark learns a run's stages one by one (adaptive execution
    submits each stage as a job of its own), so a total would grow as the run goes
    (``0/8``, then ``17/17``)."""

    def __init__(self) -> None:
        from sparktf.console import progress

        self.bar = progress(transient=True)
        self.task = self.bar.add_task("predict", total=None, status="Spark tasks done")

    def update(self, done: int, total: int) -> None:
        if total:
            self.bar.update(self.task, completed=done)

    def close(self) -> None:
        self.bar.stop()


@contextmanager
def job_scope(spark: SparkSession, show: bool) -> Iterator[None]:
    """Run the enclosed Spark jobs under one tag, with a progress bar when ``show``."""
    name = f"sparktf-predict-{uuid.uuid4().hex[:12]}"
    jobs = session_jobs(spark)
    display = _Display() if show else None
    if display is not None:
        display.bar.start()
    with jobs.tagged(name, "sparktf predict"):
        unwatch = jobs.watch(name, display.update) if display is not None else None
        try:
            yield
        finally:
            if unwatch is not None:
                unwatch()
            if display is not None:
                display.close()
