"""What prediction needs of a Spark session, classic or Spark Connect, through public API only.

- :func:`ship_model`: the model's file goes to every executor once per application (classic:
  ``SparkContext.addFile``) or per session (Connect: ``SparkSession.addArtifacts``); executors
  find it with ``SparkFiles.get`` either way.
- :func:`job_scope`: the jobs of one prediction run carry a job group (classic; pyspark 3.5 has
  no session tags there) or a session tag (Connect), and a progress display counts their
  tasks: the status tracker (classic) or the client's progress handler (Connect, pyspark 4.x;
  an elapsed-time line where there is none).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sparktf.errors import ConfigError
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
    if is_connect(spark):
        spark.addArtifacts(str(link), file=True)
    else:
        spark.sparkContext.addFile(str(link))
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


class _TrackerProgress:
    """Classic: polls the status tracker for the tasks of one job group."""

    def __init__(self, spark: SparkSession, group: str, display: _Display) -> None:
        self.tracker = spark.sparkContext.statusTracker()
        self.group = group
        self.display = display
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

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
        while not self._stop.wait(0.3):
            try:
                self.display.update(*self._counts())
            except Exception:  # the tracker can race with job cleanup; keep going
                continue

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class _HandlerProgress:
    """Connect: the client's progress handler reports the stages of each operation."""

    def __init__(self, spark: SparkSession, display: _Display) -> None:
        self.spark = spark
        self.display = display
        self.handler = cast(Any, self._handle)  # pyspark's ProgressHandler protocol
        self.registered = hasattr(spark, "registerProgressHandler")  # pyspark 4.x
        if self.registered:
            spark.registerProgressHandler(self.handler)

    def _handle(self, stages: Any = None, **_: Any) -> None:
        stages = list(stages or [])
        done = sum(int(s.num_completed_tasks) for s in stages)
        self.display.update(done, sum(int(s.num_tasks) for s in stages))

    def stop(self) -> None:
        if self.registered:
            self.spark.removeProgressHandler(self.handler)


@contextmanager
def job_scope(spark: SparkSession, show: bool) -> Iterator[None]:
    """Run the enclosed Spark jobs under one job group (classic) or session tag (Connect),
    with a progress bar when ``show``."""
    name = f"sparktf-predict-{uuid.uuid4().hex[:12]}"
    connect = is_connect(spark)
    display = _Display() if show else None
    if display is not None:
        display.bar.start()
    if connect:
        spark.addTag(name)
        watcher: Any = _HandlerProgress(spark, display) if display else None
    else:
        sc = spark.sparkContext
        sc.setJobGroup(name, "sparktf predict")
        watcher = _TrackerProgress(spark, name, display) if display else None
    try:
        yield
    finally:
        if watcher is not None:
            watcher.stop()
        if display is not None:
            display.close()
        if connect:
            spark.removeTag(name)
        else:
            sc.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
            sc.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]
