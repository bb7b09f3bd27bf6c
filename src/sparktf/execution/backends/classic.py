"""Trials as Spark jobs of a classic session (a SparkContext in this process): the fast path.

One RDD for the whole study: each attempt's job runs it with the trial as a local property, so
the runner is pickled and its Java RDD built once, not once per trial. The data is a broadcast.
Each attempt is its own job group. Attempts queued ahead of free slots are submitted without
waiting for them on pyspark 4.x (see :mod:`sparktf.pyspark_compat`), so the backend knows when
each is in Spark's queue; elsewhere each queued attempt's thread waits in ``collect()``, sent
in order.
"""

from __future__ import annotations

import base64
import pickle
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from sparktf import pyspark_compat
from sparktf.execution.backends.base import one_outcome
from sparktf.execution.backends.fifo import JobPerAttempt, SubmitOrder
from sparktf.execution.runner import TrialTask, run_trial

if TYPE_CHECKING:
    from sparktf.execution.channel import ChannelAddress
    from sparktf.execution.runner import Objective, TrialOutcome

TASK_PROPERTY = "sparktf.trial"  # Spark local property that carries a job's TrialTask


def encode_task(task: TrialTask) -> str:
    """``task`` as the text of a Spark local property (pickled by the driver, which the
    executors trust anyway: they run the driver's pickled functions)."""
    return base64.b64encode(pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)).decode("ascii")


def decode_task(text: str | None) -> TrialTask:
    """The TrialTask of the running Spark task (see ``encode_task``)."""
    if not text:
        raise RuntimeError(f"this Spark job has no {TASK_PROPERTY!r} property: not a sparktf trial")
    task = pickle.loads(base64.b64decode(text))
    if not isinstance(task, TrialTask):
        raise TypeError(f"{TASK_PROPERTY!r} holds a {type(task).__name__}, not a TrialTask")
    return task


def partition_runner(
    objective: Objective, data: Any
) -> Callable[[Iterable[Any]], Iterator[TrialOutcome]]:
    """The function given to ``mapPartitions`` of a study's one-element RDD, which every trial's
    Spark job runs: the trial comes with the job, as the local property ``TASK_PROPERTY``. The
    RDD and this function are therefore serialized once per study, not once per trial. Consumes
    its whole input (so that Spark can reuse the Python worker) and yields one outcome."""

    def run(items: Iterable[Any]) -> Iterator[TrialOutcome]:
        from pyspark import TaskContext

        for _ in items:
            pass
        ctx = TaskContext.get()
        yield run_trial(
            decode_task(ctx.getLocalProperty(TASK_PROPERTY) if ctx else None), objective, data
        )

    return run


class ClassicBackend(JobPerAttempt):
    """One Spark job per attempt, in a job group of its own, over a SparkContext."""

    def __init__(self, spark: Any) -> None:
        super().__init__(spark)
        self.sc = spark.sparkContext
        self.data: Any = None
        self.rdd: Any = None

    def open(self, objective: Objective, data: Any, channel: ChannelAddress | None) -> None:
        self.data = self.jobs.ship_value(data) if data is not None else None
        self.rdd = self.sc.parallelize([0], 1).mapPartitions(partition_runner(objective, self.data))
        pyspark_compat.prepare_rdd(self.rdd)  # built here, before the trial threads share it

    def run_job(
        self, task: TrialTask, tag: str, stopping: Callable[[], bool], order: SubmitOrder | None
    ) -> TrialOutcome:
        job = None
        try:
            self.sc.setJobGroup(
                tag, f"sparktf trial {task.number} attempt {task.attempt}", interruptOnCancel=True
            )
            self.sc.setLocalProperty(TASK_PROPERTY, encode_task(task))
            if order is not None:
                order.wait_turn()
            if stopping():  # its group may have been cancelled before this job existed
                raise RuntimeError(f"trial {task.number}: cancelled before its Spark job started")
            if order is not None and pyspark_compat.ASYNC_COLLECT:
                job = pyspark_compat.submit_async(self.rdd)  # returns once the job is queued
            elif order is not None:  # this thread waits in collect(): watch for its job
                tracker = self.sc.statusTracker()
                order.mark_when(lambda: bool(tracker.getJobIdsForGroup(tag)))
                order = None
        finally:
            if order is not None:
                order.submitted.set()
        if job is None:
            out = self.rdd.collect()
        else:
            out = pyspark_compat.fetch_async(
                self.spark, self.rdd, job, f"sparktf trial {task.number}"
            )
        return one_outcome(task.number, out)

    def close(self) -> None:
        """Drop the broadcast data from the executors."""
        if self.data is not None:
            self.jobs.unship_value(self.data)
