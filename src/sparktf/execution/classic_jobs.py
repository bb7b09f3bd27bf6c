"""Trials as Spark jobs on a classic session (a SparkContext in this process).

One RDD for the whole study: each trial's job runs it with the trial as a local property, so the
runner is pickled and its Java RDD built once, not once per trial. The data is a broadcast.
Each attempt is its own job group. On pyspark 4.x a job can be submitted without waiting for it
(see :mod:`sparktf.pyspark_compat`), which lets the dispatcher queue trials ahead of free slots.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sparktf import pyspark_compat
from sparktf.execution.jobs import SubmitOrder, one_outcome
from sparktf.execution.runner import TASK_PROPERTY, encode_task, partition_runner

if TYPE_CHECKING:
    from sparktf.execution.runner import Objective, TrialOutcome, TrialTask


class ClassicJobs:
    """:class:`~sparktf.execution.jobs.JobRunner` over a SparkContext."""

    queue_ahead = pyspark_compat.ASYNC_COLLECT

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
                give_up = time.monotonic() + 30
                for event in order.after:
                    event.wait(timeout=max(0.0, give_up - time.monotonic()))
            if stopping():  # its group may have been cancelled before this job existed
                raise RuntimeError(f"trial {task.number}: cancelled before its Spark job started")
            if order is None:
                out = self.rdd.collect()
            else:  # returns as soon as the job has its place in Spark's queue
                job = pyspark_compat.submit_async(self.rdd)
        finally:
            if order is not None:
                order.submitted.set()
        if job is not None:
            out = pyspark_compat.fetch_async(
                self.spark, self.rdd, job, f"sparktf trial {task.number}"
            )
        return one_outcome(task.number, out)

    def cancel(self, tag: str) -> None:
        """Cancel job group ``tag``."""
        self.sc.cancelJobGroup(tag)

    def channel_host(self) -> str:
        """The driver's address (this process)."""
        return str(self.spark.conf.get("spark.driver.host", "127.0.0.1") or "127.0.0.1")

    def close(self) -> None:
        """Drop the broadcast data from the executors."""
        if self.data_bc is not None:
            self.data_bc.unpersist()
