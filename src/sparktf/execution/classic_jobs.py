"""Trials as Spark jobs on a classic session (a SparkContext in this process).

One RDD for the whole study: each trial's job runs it with the trial as a local property, so the
runner is pickled and its Java RDD built once, not once per trial. The data is a broadcast.
Each attempt is its own job group. Trials queued ahead of free slots (see the dispatcher) are
submitted without waiting for them on pyspark 4.x (see :mod:`sparktf.pyspark_compat`), so the
dispatcher knows when each is in Spark's queue; elsewhere each queued trial's thread waits in
``collect()``, sent in order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sparktf import pyspark_compat
from sparktf.execution.jobs import SubmitOrder, channel_host, one_outcome
from sparktf.execution.runner import TASK_PROPERTY, encode_task, partition_runner

if TYPE_CHECKING:
    from sparktf.execution.runner import Objective, TrialOutcome, TrialTask


class ClassicJobs:
    """:class:`~sparktf.execution.jobs.JobRunner` over a SparkContext."""

    def __init__(self, spark: Any, objective: Objective, data: Any) -> None:
        self.spark = spark
        self.sc = spark.sparkContext
        self.data_bc = self.sc.broadcast(data) if data is not None else None
        self.rdd = self.sc.parallelize([0], 1).mapPartitions(
            partition_runner(objective, self.data_bc)
        )
        pyspark_compat.prepare_rdd(self.rdd)  # built here, before the trial threads share it

    def run(
        self, task: TrialTask, tag: str, stopping: Callable[[], bool], order: SubmitOrder | None
    ) -> TrialOutcome:
        """Run ``task`` in job group ``tag`` (see :class:`JobRunner`)."""
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

    def cancel(self, tag: str) -> None:
        """Cancel job group ``tag``."""
        self.sc.cancelJobGroup(tag)

    def channel_host(self) -> str:
        """The driver's address (this process)."""
        return channel_host(self.spark)

    def close(self) -> None:
        """Drop the broadcast data from the executors."""
        if self.data_bc is not None:
            self.data_bc.unpersist()
