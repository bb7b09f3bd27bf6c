"""How the dispatcher fills the cluster's slots: two small strategies.

- :class:`DirectSlots`: one attempt per trial in flight; a freed slot gets its next trial at
  once, from the job thread whose trial just ended (asked ahead while the slots were busy).
- :class:`QueueAheadSlots`: when the study may use every slot of the cluster (the backend
  says so), the next attempts wait in Spark's own queue, so a slot that frees starts the next
  trial inside Spark. Spark's slots cap how many run at once; the oldest jobs hold them, the
  others wait, and a trial's ``--trial-timeout`` counts from when it took a slot. Which jobs
  hold the slots is a guess from the order of submission, which each attempt's start report
  over the report channel corrects.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from sparktf.execution.backends import Submit
from sparktf.execution.trial_run import Phase, TrialRun


class SlotPolicy(ABC):
    """What the dispatch loop asks about slots."""

    #: a job thread starts the next asked-ahead trial on the slot its trial freed
    chains: bool = False
    #: trials are asked ahead of free slots while every slot is busy
    asks_ahead: bool = False

    def __init__(self, parallelism: int) -> None:
        self.parallelism = parallelism

    @property
    @abstractmethod
    def capacity(self) -> int:
        """Attempts handed to Spark at once."""

    @abstractmethod
    def submit(self, in_flight: int) -> Submit:
        """How the next attempt enters Spark, with ``in_flight`` attempts there already."""

    def holders(self, in_flight: Sequence[TrialRun]) -> Sequence[TrialRun]:
        """The attempts that hold a slot now (a guess for queued ones), ``in_flight`` being
        in the order submitted."""
        return in_flight

    def take_slots(self, in_flight: Sequence[TrialRun], take: Callable[[TrialRun], None]) -> None:
        """Call ``take`` for each queued attempt that now holds a slot."""
        for run in self.holders(in_flight):
            if run.phase is Phase.QUEUED:
                take(run)


class DirectSlots(SlotPolicy):
    """Exactly ``parallelism`` attempts in Spark; the freed slots are refilled first."""

    chains = True
    asks_ahead = True

    @property
    def capacity(self) -> int:
        return self.parallelism

    def submit(self, in_flight: int) -> Submit:
        return Submit.NOW


class QueueAheadSlots(SlotPolicy):
    """``ahead`` more attempts wait in Spark's queue behind the ``ahead`` that run."""

    def __init__(self, parallelism: int, ahead: int) -> None:
        super().__init__(parallelism)
        self.ahead = ahead

    @property
    def capacity(self) -> int:
        return self.parallelism + self.ahead

    def submit(self, in_flight: int) -> Submit:
        # fewer jobs than slots: this one gets a slot whatever its place; else it queues,
        # sent after every earlier job has its place in Spark's queue
        return Submit.QUEUED if in_flight >= self.ahead else Submit.IN_ORDER

    def holders(self, in_flight: Sequence[TrialRun]) -> Sequence[TrialRun]:
        # Spark's FIFO scheduler gives its slots to the oldest jobs
        return list(itertools.islice(in_flight, self.ahead))


def slot_policy(parallelism: int, ahead: int) -> SlotPolicy:
    """Queue-ahead when the backend allows ``ahead`` > 0 attempts in Spark's queue."""
    return QueueAheadSlots(parallelism, ahead) if ahead else DirectSlots(parallelism)
