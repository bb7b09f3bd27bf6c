"""Trials as DataFrame queries, one per attempt: works on Spark Connect.

Each attempt is one request: a one-row, one-partition DataFrame mapped by ``mapInArrow`` to one
row (the pickled outcome) by a function that carries the trial, collected in its job thread
under a session tag of its own, so that ``interruptTag`` cancels that trial alone (Connect's
tags belong to the thread that set them). The one-row frame and both schemas are resolved once,
so that a trial costs the server one request (its plan) and no other round trip. There is no
broadcast on Connect: the data travels once per session as a file artifact, which each Python
worker reads once (``SparkFiles``) and keeps.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from sparktf.execution.backends.base import one_outcome
from sparktf.execution.backends.fifo import JobPerAttempt, SubmitOrder
from sparktf.execution.runner import run_trial

if TYPE_CHECKING:
    from sparktf.execution.channel import ChannelAddress
    from sparktf.execution.runner import Objective, TrialOutcome, TrialTask

PLAN_TIME = 0.02  # gap between two requests sent in order (their jobs queue in that order)


def _mapper(objective: Objective, data: Any, task: TrialTask) -> Callable[[Iterator[Any]], Any]:
    """The ``mapInArrow`` function of one attempt: runs ``task`` (its one input row is a
    placeholder) and yields the pickled outcome."""

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        for _ in batches:
            pass
        outcome = run_trial(task, objective, data)
        blob = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        yield pa.RecordBatch.from_pydict({"outcome": [blob]}, schema=outcome_schema())

    return run


def outcome_schema() -> Any:
    """The Arrow schema of a query's outcome rows."""
    import pyarrow as pa

    return pa.schema([pa.field("outcome", pa.binary())])


class ConnectBackend(JobPerAttempt):
    """One DataFrame query per attempt, under a session tag of its own (Spark Connect)."""

    def __init__(self, spark: Any) -> None:
        super().__init__(spark)
        self.objective: Objective | None = None
        self.data: Any = None

    def open(self, objective: Objective, data: Any, channel: ChannelAddress | None) -> None:
        from pyspark.sql.types import BinaryType, StructField, StructType

        self.objective = objective
        self.data = self.jobs.ship_value(data) if data is not None else None
        self.outcome_type = StructType([StructField("outcome", BinaryType())])
        self.one_row = self.spark.range(0, 1, 1, 1)  # one row in one partition: one task
        self.one_row.schema  # noqa: B018  (resolved here, once: the trials' frames reuse it)

    def run_job(
        self, task: TrialTask, tag: str, stopping: Callable[[], bool], order: SubmitOrder | None
    ) -> TrialOutcome:
        assert self.objective is not None
        mapper = _mapper(self.objective, self.data, task)
        frame = self.one_row.mapInArrow(mapper, self.outcome_type)
        with self.jobs.tagged(tag):
            if order is not None:  # queue-ahead: send this request after the earlier ones
                order.wait_turn()
            try:
                if stopping():
                    raise RuntimeError(
                        f"trial {task.number}: cancelled before its Spark job started"
                    )
            except BaseException:
                if order is not None:
                    order.submitted.set()
                raise
            if order is not None:  # the server plans the request first (no API tells when
                # its job is queued): the next request goes a moment after this one
                sent = time.monotonic()
                order.mark_when(lambda: time.monotonic() - sent >= PLAN_TIME)
            rows = frame.collect()
        return one_outcome(task.number, [pickle.loads(r["outcome"]) for r in rows])
