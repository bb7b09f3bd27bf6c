"""Queue-ahead on Spark's FIFO scheduler, shared by the backends that submit one job per attempt.

When the study may use every task slot of the cluster (its parallelism is at least the slots,
and no dynamic allocation would add executors for queued jobs), the next attempts are submitted
*ahead*: their jobs wait in Spark's own queue, so a slot that frees starts the next trial inside
Spark, with no round trip through the driver's Python. Spark starts queued jobs in the order
they were submitted, so each queued attempt is sent only once the earlier ones are in the queue.
"""

from __future__ import annotations

import threading
import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sparktf.execution.backends.base import Backend, Job, Submit

if TYPE_CHECKING:
    from sparktf.execution.runner import TrialOutcome, TrialTask


def queue_ahead(dynamic_allocation: str | None, parallelism: int, slots: int) -> int:
    """How many attempts may wait in Spark's queue ahead of a free slot: the cluster's
    ``slots``, when Spark's slots alone keep the study within ``parallelism`` (it is at least
    the slots, and dynamic allocation, which would add executors for queued jobs, is off:
    ``dynamic_allocation`` is ``spark.dynamicAllocation.enabled``); else none."""
    if parallelism < slots or (dynamic_allocation or "").strip().lower() == "true":
        return 0
    return slots


def session_queue_ahead(spark: Any, parallelism: int, slots: int) -> int:
    """:func:`queue_ahead` for ``spark``'s own settings."""
    try:
        dynamic = spark.conf.get("spark.dynamicAllocation.enabled", "false")
    except Exception:  # a Connect server that hides its configuration
        dynamic = None
    return queue_ahead(dynamic, parallelism, slots)


@dataclass(frozen=True)
class SubmitOrder:
    """Submit this job only after the jobs of ``after`` are in Spark's queue, then set
    ``submitted``."""

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


class Fifo:
    """The order in which a backend's attempts enter Spark's queue."""

    def __init__(self) -> None:
        self._submitting: list[threading.Event] = []  # jobs not yet in Spark's queue

    def order(self, submit: Submit) -> SubmitOrder | None:
        """The order of the attempt made now (None: it is sent at once)."""
        if submit is Submit.NOW:
            return None
        self._submitting = [e for e in self._submitting if not e.is_set()]
        after = list(self._submitting) if submit is Submit.QUEUED else []
        order = SubmitOrder(after, threading.Event())
        self._submitting.append(order.submitted)
        return order


class JobPerAttempt(Backend):
    """A backend that runs each attempt as a Spark job of its own, cancelled by its tag, and
    queues attempts ahead in Spark's FIFO queue where the study may use every slot."""

    def __init__(self, spark: Any) -> None:
        super().__init__(spark)
        self.fifo = Fifo()

    def queue_ahead(self, parallelism: int) -> int:
        return session_queue_ahead(self.spark, parallelism, self.slots)

    def attempt(self, task: TrialTask, tag: str, submit: Submit) -> Job:
        order = self.fifo.order(submit)
        return lambda stopping: self.run_job(task, tag, stopping, order)

    @abstractmethod
    def run_job(
        self, task: TrialTask, tag: str, stopping: Callable[[], bool], order: SubmitOrder | None
    ) -> TrialOutcome:
        """Run ``task``'s job tagged ``tag`` (in a job thread), sent in ``order`` (None: at
        once), and return its outcome."""

    def cancel(self, tag: str) -> None:
        self.jobs.cancel(tag)
