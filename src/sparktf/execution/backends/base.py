"""The interface between the dispatcher and the way trials run on Spark.

A backend runs one attempt of one trial and cancels it; it says how many trials the cluster
runs at once (its slots) and how many more may wait in Spark's queue ahead of a free slot; it
ships the study's data to the executors once, in its own way (their runner reads it with
``.value``). The dispatcher is handed one and never asks which one it has.

Implementations: :mod:`~sparktf.execution.backends.classic` (jobs of a SparkContext),
:mod:`~sparktf.execution.backends.connect` (one DataFrame query per attempt, works on Spark
Connect) and :mod:`~sparktf.execution.backends.slots` (long-lived slot tasks that ask the
driver for their next trial).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from enum import Enum
from typing import TYPE_CHECKING, Any

from sparktf.execution.backends.session import SessionJobs, session_jobs

if TYPE_CHECKING:
    from sparktf.execution.channel import ChannelAddress, EventHandler
    from sparktf.execution.preflight import Needs, Preflight
    from sparktf.execution.runner import Objective, TrialOutcome, TrialTask

# An attempt ready to run: called in a job thread with ``stopping`` (true once the study
# stops), it blocks until the attempt ends and returns its outcome. It raises what Spark
# raised when the attempt's task failed or was cancelled, and RuntimeError when ``stopping()``
# was already true.
Job = Callable[[Callable[[], bool]], "TrialOutcome"]


class Submit(str, Enum):
    """How an attempt enters Spark (the dispatcher's slot policy says)."""

    NOW = "now"  # a slot is free for it
    IN_ORDER = "in-order"  # queue-ahead: it gets a slot; later queued attempts go after it
    QUEUED = "queued"  # queue-ahead: sent after the earlier ones, it waits for a slot


class Backend(ABC):
    """Runs a study's trial attempts on Spark, each cancellable on its own.

    Args:
        spark: the session.
    """

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self.jobs: SessionJobs = session_jobs(spark)
        self._slots: int | None = None

    @property
    def slots(self) -> int:
        """How many tasks the cluster runs at once (its cores / ``spark.task.cpus``)."""
        if self._slots is None:
            from sparktf.spark import task_slots

            self._slots = task_slots(self.spark)
        return self._slots

    def queue_ahead(self, parallelism: int) -> int:
        """How many attempts may wait in Spark's queue ahead of a free slot, for a study of
        ``parallelism`` trials in flight (0: the dispatcher submits one when a slot frees)."""
        return 0

    @abstractmethod
    def open(self, objective: Objective, data: Any, channel: ChannelAddress | None) -> None:
        """Ship ``data`` (None: nothing) to the executors and prepare what every attempt
        reuses; called once, before the first attempt, with the report channel's address
        (None: no channel)."""

    @abstractmethod
    def attempt(self, task: TrialTask, tag: str, submit: Submit) -> Job:
        """The attempt of ``task``, tagged ``tag``, ready to run in a job thread. Called by
        the dispatcher in the order its attempts are to enter Spark."""

    @abstractmethod
    def cancel(self, tag: str) -> None:
        """Cancel the attempt tagged ``tag`` (no effect when it has ended)."""

    def channel_host(self) -> str:
        """The address of this process that the executors reach (for the report channel)."""
        return self.jobs.channel_host()

    def preflight(self, needs: Needs, tasks: int, parallelism: int) -> Preflight:
        """Check the executors before the first trial (called after :meth:`open`): by
        default one probe job of ``tasks`` tasks (every task slot); a backend whose tasks
        can run the probe where the trials will run (``parallelism`` of them) may do that."""
        from sparktf.execution.preflight import run_preflight

        return run_preflight(self.spark, needs, tasks)

    def channel_checked(self, reachable: bool) -> str | None:
        """The preflight found whether every executor reaches the report channel; returns
        a line for the user when that changes how trials run.

        Raises:
            ConfigError: this backend cannot run without the channel.
        """
        return None

    def channel_events(self) -> Mapping[str, EventHandler]:
        """Events of its own that the report channel serves (name -> handler)."""
        return {}

    def close(self) -> None:  # noqa: B027  (a backend may have nothing to end)
        """End what the study started (slot tasks) and free what it shipped."""


def one_outcome(number: int, out: list[Any]) -> TrialOutcome:
    """The single outcome of trial ``number``'s job."""
    if len(out) != 1:
        raise RuntimeError(f"trial {number}: expected 1 outcome, got {len(out)}")
    result: TrialOutcome = out[0]
    return result
