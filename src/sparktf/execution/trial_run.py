"""A trial in flight, as the dispatcher tracks it: its phase, the moves allowed, and the one
registry of them (keyed by trial number) from which every other view derives."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

    from sparktf.execution.runner import TrialOutcome


class Phase(str, Enum):
    """Where a trial in flight is."""

    ASKED = "asked"  # parameters chosen ahead of a free slot (a job thread may have started it)
    QUEUED = "queued"  # its job waits in Spark's queue behind the jobs holding the slots
    RUNNING = "running"  # its job holds a task slot; its --trial-timeout counts
    CANCELLING = "cancelling"  # its job was cancelled (timeout, study stop); awaiting its end
    RETURNED = "returned"  # its job returned; to be told to Optuna or retried
    ENDED = "ended"  # told to Optuna (or retried as a new attempt)


_MOVES: dict[Phase, frozenset[Phase]] = {
    Phase.ASKED: frozenset({Phase.QUEUED, Phase.RUNNING, Phase.ENDED}),
    Phase.QUEUED: frozenset({Phase.RUNNING, Phase.CANCELLING, Phase.RETURNED, Phase.ENDED}),
    Phase.RUNNING: frozenset({Phase.CANCELLING, Phase.RETURNED, Phase.ENDED}),
    Phase.CANCELLING: frozenset({Phase.RETURNED, Phase.ENDED}),
    Phase.RETURNED: frozenset({Phase.ENDED}),
    Phase.ENDED: frozenset(),
}

IN_FLIGHT = frozenset({Phase.QUEUED, Phase.RUNNING, Phase.CANCELLING})


@dataclass(eq=False)
class TrialRun:
    """One attempt of one trial."""

    trial: optuna.Trial
    params: dict[str, Any]
    attempt: int
    phase: Phase = Phase.ASKED
    started: float | None = None  # when it took its slot (None: never did)
    deadline: float | None = None
    start_reported: bool = False  # its executor said when it started (the report channel)
    cancel_reason: str | None = None
    reported: set[int] = field(default_factory=set)
    future: Future[TrialOutcome] | None = None  # its job (None: not started)
    chained_at: float | None = None  # when a job thread started it on the slot it freed
    seq: int = -1  # order of submission to Spark

    @property
    def number(self) -> int:
        """The trial's number."""
        return int(self.trial.number)

    @property
    def tag(self) -> str:
        """The Spark job group / session tag of this attempt."""
        return f"sparktf-{self.trial.number}-{self.attempt}"

    def move(self, to: Phase) -> None:
        """Change phase; an impossible move is a bug, not a condition to handle."""
        if to not in _MOVES[self.phase]:
            raise RuntimeError(
                f"trial {self.trial.number}: impossible move {self.phase.value} -> {to.value}"
            )
        self.phase = to

    def retry(self) -> TrialRun:
        """The next attempt of the same trial (it keeps the curve points already told)."""
        return TrialRun(self.trial, self.params, self.attempt + 1, reported=self.reported)


class Registry:
    """The trials not yet told to Optuna, one attempt each, keyed by trial number.

    Job threads (starting an asked-ahead trial on the slot they freed) and the report
    channel's threads read and write it under ``lock``; only the dispatch loop moves a phase.
    """

    def __init__(self, lock: threading.RLock) -> None:
        self.lock = lock
        self._runs: dict[int, TrialRun] = {}
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._runs)

    def __contains__(self, number: int) -> bool:
        return number in self._runs

    def add(self, run: TrialRun) -> None:
        """Track ``run`` (a retry replaces the trial's earlier attempt)."""
        with self.lock:
            self._runs[run.number] = run

    def started(self, run: TrialRun, future: Future[TrialOutcome]) -> None:
        """``run``'s job was handed to a job thread."""
        with self.lock:
            run.future = future
            run.seq = next(self._seq)
            self._runs[run.number] = run

    def get(self, number: int) -> TrialRun | None:
        """The attempt of trial ``number`` in flight (None: none)."""
        return self._runs.get(number)

    def remove(self, run: TrialRun) -> None:
        """Forget ``run`` (told to Optuna)."""
        with self.lock:
            if self._runs.get(run.number) is run:
                del self._runs[run.number]

    def _where(self, keep: Any) -> list[TrialRun]:
        with self.lock:
            return [r for r in self._runs.values() if keep(r)]

    def ready(self) -> list[TrialRun]:
        """Asked ahead of a free slot, not started, in the order asked."""
        return self._where(lambda r: r.future is None)

    def chained(self) -> list[TrialRun]:
        """Started by a job thread; the loop has not applied it yet."""
        return self._where(lambda r: r.future is not None and r.phase is Phase.ASKED)

    def in_flight(self) -> list[TrialRun]:
        """With a job in Spark (queued, running or cancelled), in the order submitted."""
        return sorted(self._where(lambda r: r.phase in IN_FLIGHT), key=lambda r: r.seq)
