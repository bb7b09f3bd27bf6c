"""Trials as Spark jobs through the DataFrame API only: works on Spark Connect.

Each attempt is one request: a one-row, one-partition DataFrame mapped by ``mapInArrow`` to one
row (the pickled outcome) by a function that carries the encoded trial, collected in its job
thread under a session tag of its own, so that ``interruptTag`` cancels that trial alone
(Connect's tags belong to the thread that set them). The one-row frame and both schemas are
resolved once, so that a trial costs the server one request (its plan) and no other round trip.
There is no broadcast on Connect: the data travels once per session as a file artifact
(``addArtifacts(..., file=True)``), which each Python worker reads once (``SparkFiles``) and keeps.
"""

from __future__ import annotations

import hashlib
import pickle
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparktf.execution.jobs import SubmitOrder, channel_host, one_outcome
from sparktf.execution.runner import decode_task, encode_task, run_trial

if TYPE_CHECKING:
    from sparktf.execution.runner import Objective, TrialOutcome, TrialTask

PLAN_TIME = 0.02  # gap between two requests sent in order (their jobs queue in that order)


@dataclass(frozen=True)
class ArtifactData:
    """Data shipped as a Connect file artifact; ``value`` loads it on an executor."""

    name: str

    @property
    def key(self) -> str:
        """Identifies the data in a worker's cache (its content hash is in the name)."""
        return self.name

    @property
    def value(self) -> Any:
        """The data (unpickled from the artifact's local copy)."""
        from pyspark import SparkFiles

        with open(SparkFiles.get(self.name), "rb") as f:
            return pickle.load(f)


def ship(spark: Any, data: Any) -> ArtifactData:
    """Send ``data`` to the session's executors once, as a file artifact named by its hash."""
    blob = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
    name = f"sparktf-data-{hashlib.sha256(blob).hexdigest()[:20]}.pkl"
    with tempfile.TemporaryDirectory(prefix="sparktf-ship-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(blob)
        try:
            spark.addArtifacts(str(path), file=True)
        except Exception as exc:  # this session has it already (the same content)
            if "exist" not in str(exc).lower():
                raise
    return ArtifactData(name)


def _mapper(
    objective: Objective, data: ArtifactData | None, text: str
) -> Callable[[Iterator[Any]], Any]:
    """The ``mapInArrow`` function of one attempt: runs the trial encoded in ``text`` (its one
    input row is a placeholder) and yields the pickled outcome."""

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        for _ in batches:
            pass
        outcome = run_trial(decode_task(text), objective, data)
        blob = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        yield pa.RecordBatch.from_pydict({"outcome": [blob]}, schema=_schema())

    return run


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema([pa.field("outcome", pa.binary())])


class FrameJobs:
    """:class:`~sparktf.execution.jobs.JobRunner` over the DataFrame API (Spark Connect)."""

    def __init__(self, spark: Any, objective: Objective, data: Any) -> None:
        from pyspark.sql.types import BinaryType, StructField, StructType

        self.spark = spark
        self.objective = objective
        self.data = ship(spark, data) if data is not None else None
        self.outcome_schema = StructType([StructField("outcome", BinaryType())])
        self.one_row = spark.range(0, 1, 1, 1)  # one row in one partition: one task
        self.one_row.schema  # noqa: B018  (resolved here, once: the trials' frames reuse it)

    def run(
        self, task: TrialTask, tag: str, stopping: Callable[[], bool], order: SubmitOrder | None
    ) -> TrialOutcome:
        """Run ``task`` as one job tagged ``tag`` (see :class:`JobRunner`)."""
        mapper = _mapper(self.objective, self.data, encode_task(task))
        frame = self.one_row.mapInArrow(mapper, self.outcome_schema)
        self.spark.addTag(tag)
        try:
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
        finally:
            self.spark.removeTag(tag)
        return one_outcome(task.number, [pickle.loads(r["outcome"]) for r in rows])

    def cancel(self, tag: str) -> None:
        """Interrupt the operations tagged ``tag``."""
        self.spark.interruptTag(tag)

    def channel_host(self) -> str:
        """This machine's address on the route to the Connect server (whose executors are
        assumed to sit next to it)."""
        return channel_host(self.spark)

    def close(self) -> None:
        """Nothing to free: the artifact ends with the session."""
