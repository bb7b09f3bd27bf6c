"""One interface for running a trial attempt as its own Spark job, two implementations.

- :class:`~sparktf.execution.classic_jobs.ClassicJobs`: a classic session (a SparkContext in this
  process): one RDD for the whole study, the data as a broadcast, job groups, and (pyspark 4.x)
  jobs that wait in Spark's own queue ahead of a free slot.
- :class:`~sparktf.execution.frame_jobs.FrameJobs`: the DataFrame API only, so it works on Spark
  Connect: a one-row DataFrame per attempt through ``mapInArrow``, the data as a Connect artifact,
  cancelled by session tags.

``job_runner(spark, objective, data)`` picks the one that fits the session.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sparktf.execution.runner import Objective, TrialOutcome, TrialTask


@dataclass(frozen=True)
class SubmitOrder:
    """Queue-ahead mode: submit this job only after the jobs of ``after`` are in Spark's queue,
    then set ``submitted`` (Spark's FIFO scheduler then starts trials in the order they were
    asked)."""

    after: list[threading.Event]
    submitted: threading.Event

    def mark_when(self, queued: Callable[[], bool], limit: float = 5.0) -> None:
        """For a job submitted by a blocking call: set ``submitted`` from a watcher thread once
        ``queued()`` says the job is in Spark's queue (or after ``limit`` seconds), so that
        the next job is sent after it."""

        def watch() -> None:
            give_up = time.monotonic() + limit
            while not queued() and time.monotonic() < give_up:
                time.sleep(0.01)
            self.submitted.set()

        threading.Thread(target=watch, name="sparktf-submit-watch", daemon=True).start()

    def wait_turn(self, limit: float = 30.0) -> None:
        """Wait until the earlier jobs are submitted (at most ``limit`` seconds in all)."""
        give_up = time.monotonic() + limit
        for event in self.after:
            event.wait(timeout=max(0.0, give_up - time.monotonic()))


class JobRunner(Protocol):
    """Runs trial attempts as Spark jobs, one job each, cancellable one by one."""

    def run(
        self, task: TrialTask, tag: str, stopping: Callable[[], bool], order: SubmitOrder | None
    ) -> TrialOutcome:
        """Run ``task`` as a Spark job tagged ``tag`` and return its outcome (blocks; called
        from a job thread). Raises whatever Spark raised when the job failed or was
        cancelled, and RuntimeError when ``stopping()`` was already true."""
        ...

    def cancel(self, tag: str) -> None:
        """Cancel the job tagged ``tag`` (no effect when it has ended)."""
        ...

    def channel_host(self) -> str:
        """The address of this process that the executors reach (for the report channel)."""
        ...

    def close(self) -> None:
        """Free what the study shipped (broadcast data)."""
        ...


def channel_host(spark: Any) -> str:
    """The address of this process that the session's executors reach: the driver's host on a
    classic session; on Spark Connect, this machine's address on the route to the server
    (whose executors are assumed to sit next to it)."""
    from sparktf.spark import is_connect

    if is_connect(spark):
        host = getattr(getattr(spark, "client", None), "host", None) or "localhost"
        return route_to(str(host))
    return str(spark.conf.get("spark.driver.host", "127.0.0.1") or "127.0.0.1")


def job_runner(spark: Any, objective: Objective, data: Any) -> JobRunner:
    """The job runner for ``spark``: classic when it has a SparkContext, else the DataFrame API.

    Args:
        spark: the session.
        objective: what each trial runs.
        data: what to ship to the executors once (None for nothing).
    """
    from sparktf.spark import is_connect

    if is_connect(spark):
        from sparktf.execution.frame_jobs import FrameJobs

        return FrameJobs(spark, objective, data)
    from sparktf.execution.classic_jobs import ClassicJobs

    return ClassicJobs(spark, objective, data)


def one_outcome(number: int, out: list[Any]) -> TrialOutcome:
    """The single outcome of trial ``number``'s job."""
    if len(out) != 1:
        raise RuntimeError(f"trial {number}: expected 1 outcome, got {len(out)}")
    result: TrialOutcome = out[0]
    return result


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
