"""What sparktf needs of a Spark session to run its own jobs, classic or Spark Connect alike.

One interface, two implementations, public API only:

- ship a file or a Python value to the executors once (classic: ``SparkContext.addFile`` and a
  broadcast; Connect: a file artifact, ``addArtifacts(..., file=True)``); executors find a file
  with ``SparkFiles.get`` and a value with ``.value`` either way;
- run jobs under a tag and cancel them by it (classic: a job group; Connect: a session tag,
  which belongs to the thread that set it);
- follow the progress of the jobs under a tag (classic: the status tracker; Connect: the
  client's progress handler, pyspark 4.x);
- the address of this process that the executors reach (the report channel's).

Tuning (the backends) and prediction (``sparktf.inference.jobs``) both use it.
"""

from __future__ import annotations

import hashlib
import pickle
import socket
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

# progress(done tasks, all tasks known so far)
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ArtifactData:
    """A value shipped as a Connect file artifact; ``value`` loads it on an executor."""

    name: str

    @property
    def key(self) -> str:
        """Identifies the value in a worker's cache (its content hash is in the name)."""
        return self.name

    @property
    def value(self) -> Any:
        """The value (unpickled from the artifact's local copy)."""
        from pyspark import SparkFiles

        with open(SparkFiles.get(self.name), "rb") as f:
            return pickle.load(f)


class SessionJobs(ABC):
    """A session, as sparktf's jobs use it. Build one with :func:`session_jobs`."""

    def __init__(self, spark: Any) -> None:
        self.spark = spark

    @abstractmethod
    def ship_file(self, path: Path) -> None:
        """Send the file at ``path`` to every executor once; they find it as
        ``SparkFiles.get(path.name)``."""

    @abstractmethod
    def ship_value(self, value: Any) -> Any:
        """Send ``value`` to the executors once; the returned handle travels with the tasks,
        and its ``.value`` is ``value`` on an executor."""

    def unship_value(self, handle: Any) -> None:  # noqa: B027  (most sessions cannot)
        """Free a value of :meth:`ship_value` on the executors (where that is possible)."""

    @abstractmethod
    @contextmanager
    def tagged(self, tag: str, description: str = "") -> Iterator[None]:
        """The Spark jobs this thread runs inside carry ``tag``."""

    @abstractmethod
    def cancel(self, tag: str) -> None:
        """Cancel the jobs that carry ``tag`` (no effect when none runs)."""

    @abstractmethod
    def watch(self, tag: str, progress: Progress) -> Callable[[], None]:
        """Call ``progress`` as the tasks of ``tag``'s jobs end; returns a function that
        stops watching."""

    @abstractmethod
    def channel_host(self) -> str:
        """The address of this process that the session's executors reach."""


_GROUP_PROPERTIES = ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel")


class ClassicJobs(SessionJobs):
    """A classic session: a SparkContext in this process."""

    def __init__(self, spark: Any) -> None:
        super().__init__(spark)
        self.sc = spark.sparkContext

    def ship_file(self, path: Path) -> None:
        self.sc.addFile(str(path))

    def ship_value(self, value: Any) -> Any:
        return self.sc.broadcast(value)

    def unship_value(self, handle: Any) -> None:
        handle.unpersist()

    @contextmanager
    def tagged(self, tag: str, description: str = "") -> Iterator[None]:
        self.sc.setJobGroup(tag, description or tag, interruptOnCancel=True)
        try:
            yield
        finally:
            for key in (
                "spark.jobGroup.id",
                "spark.job.description",
                "spark.job.interruptOnCancel",
            ):
                self.sc.setLocalProperty(key, cast(str, None))

    def cancel(self, tag: str) -> None:
        self.sc.cancelJobGroup(tag)

    def watch(self, tag: str, progress: Progress) -> Callable[[], None]:
        tracker = self.sc.statusTracker()
        stop = threading.Event()

        def counts() -> tuple[int, int]:
            done = total = 0
            for jid in tracker.getJobIdsForGroup(tag):
                job = tracker.getJobInfo(jid)
                for sid in job.stageIds if job is not None else ():
                    stage = tracker.getStageInfo(sid)
                    if stage is not None:
                        done += stage.numCompletedTasks
                        total += stage.numTasks
            return done, total

        def loop() -> None:
            while not stop.wait(0.3):
                try:
                    progress(*counts())
                except Exception:  # the tracker can race with job cleanup; keep going
                    continue

        thread = threading.Thread(target=loop, name="sparktf-progress", daemon=True)
        thread.start()

        def done() -> None:
            stop.set()
            thread.join(timeout=5)

        return done

    def channel_host(self) -> str:
        return str(self.spark.conf.get("spark.driver.host", "127.0.0.1") or "127.0.0.1")


class ConnectJobs(SessionJobs):
    """A Spark Connect session: the DataFrame API and the client only."""

    def ship_file(self, path: Path) -> None:
        try:
            self.spark.addArtifacts(str(path), file=True)
        except Exception as exc:  # this session has it already (the same content)
            if "exist" not in str(exc).lower():
                raise

    def ship_value(self, value: Any) -> ArtifactData:
        """The value as a file artifact named by its content's hash (no broadcast on
        Connect); each Python worker reads it once."""
        blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        name = f"sparktf-data-{hashlib.sha256(blob).hexdigest()[:20]}.pkl"
        with tempfile.TemporaryDirectory(prefix="sparktf-ship-") as tmp:
            path = Path(tmp) / name
            path.write_bytes(blob)
            self.ship_file(path)
        return ArtifactData(name)

    @contextmanager
    def tagged(self, tag: str, description: str = "") -> Iterator[None]:
        self.spark.addTag(tag)
        try:
            yield
        finally:
            self.spark.removeTag(tag)

    def cancel(self, tag: str) -> None:
        self.spark.interruptTag(tag)

    def watch(self, tag: str, progress: Progress) -> Callable[[], None]:
        if not hasattr(self.spark, "registerProgressHandler"):  # pyspark 3.5: none
            return lambda: None

        def handle(stages: Any = None, **_: Any) -> None:
            stages = list(stages or [])
            done = sum(int(s.num_completed_tasks) for s in stages)
            progress(done, sum(int(s.num_tasks) for s in stages))

        handler = cast(Any, handle)  # pyspark's ProgressHandler protocol
        self.spark.registerProgressHandler(handler)
        return lambda: self.spark.removeProgressHandler(handler)

    def channel_host(self) -> str:
        """This machine's address on the route to the Connect server (whose executors are
        assumed to sit next to it)."""
        host = getattr(getattr(self.spark, "client", None), "host", None) or "localhost"
        return route_to(str(host))


def session_jobs(spark: Any) -> SessionJobs:
    """The :class:`SessionJobs` of ``spark``: classic when it has a SparkContext, else Connect."""
    from sparktf.spark import is_connect

    return ConnectJobs(spark) if is_connect(spark) else ClassicJobs(spark)


def channel_host(spark: Any) -> str:
    """The address of this process that ``spark``'s executors reach (see
    :meth:`SessionJobs.channel_host`)."""
    return session_jobs(spark).channel_host()


def route_to(host: str) -> str:
    """This machine's address on the route to ``host`` (127.0.0.1 for a loopback host)."""
    try:
        addr = socket.getaddrinfo(host, None, socket.AF_INET)[0][4][0]
        if str(addr).startswith("127."):
            return "127.0.0.1"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((addr, 9))  # no packet is sent: this only picks the route
            return str(s.getsockname()[0])
    except OSError:
        return socket.gethostbyname(socket.gethostname())
