"""Slot mode: one long-lived Spark task per slot asks the driver for its next trial.

Each slot is one query of one task (a ``mapInArrow`` over one row, under a tag of its own), run
by a thread of the driver; the task (:mod:`.slot_task`) asks for a trial over the report
channel, runs it in its Python worker, which keeps the data and TensorFlow, sends the outcome
back with its next request, and asks again, until the driver answers ``stop``. A trial costs
two small HTTP requests instead of a query (whose planning and task set-up cost a Spark Connect
server about 0.1 CPU-second, and a remote server a round trip more).

A slot is started when an attempt waits and no slot is idle or starting. Cancelling a trial
(``--trial-timeout``, Ctrl-C) interrupts it inside its task; a trial that has not ended
``GRACE`` seconds later is ended by interrupting its slot's query, and the slot starts again
(a new query; a new Python worker when Spark killed the old one). A slot task that dies (a
lost executor, a crashed worker) fails its trial, which the dispatcher retries, and is started
again; a slot that keeps dying before it asks for anything gives up, and so do its attempts.

Without a report channel the executors reach (the preflight says), trials run one query each
(the :class:`~sparktf.execution.backends.connect.ConnectBackend` this extends).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sparktf.errors import ConfigError
from sparktf.execution.backends.base import Job, Submit
from sparktf.execution.backends.connect import ConnectBackend
from sparktf.execution.backends.slot_task import (
    NEXT_WAIT,
    WATCH_WAIT,
    outcome_from_json,
    slot_runner,
    task_to_json,
)
from sparktf.execution.preflight import preflight_of, probe_config

if TYPE_CHECKING:
    from sparktf.execution.channel import ChannelAddress, EventHandler
    from sparktf.execution.preflight import Needs, Preflight
    from sparktf.execution.runner import Objective, TrialOutcome, TrialTask

log = logging.getLogger("sparktf.slots")

GRACE = 5.0  # seconds a cancelled trial may take to end inside its task
# a slot running a trial whose task has not been heard of for this long is lost (its executor
# died; Spark may be retrying its task behind the other slots, which never end)
LOST_AFTER = 3 * WATCH_WAIT
FAILED_STARTS = 3  # a slot whose task dies this many times in a row before asking gives up


@dataclass(eq=False)
class _Attempt:
    """One attempt handed to the slots."""

    task: TrialTask
    tag: str
    done: threading.Event = field(default_factory=threading.Event)
    cancelled: bool = False
    slot: _Slot | None = None
    outcome: TrialOutcome | None = None
    error: BaseException | None = None

    def end(self, outcome: TrialOutcome | None = None, error: BaseException | None = None) -> None:
        if not self.done.is_set():
            self.outcome, self.error = outcome, error
            self.done.set()


@dataclass(eq=False)
class _Slot:
    """One slot: a driver thread that keeps one slot task running."""

    index: int
    generation: int = 0
    asked: bool = False  # this generation's task has asked for a trial
    current: _Attempt | None = None
    failed_starts: int = 0
    thread: threading.Thread | None = None
    heard: float = 0.0  # when its task last asked or watched (monotonic)
    ends: int = 0  # how many of its tasks have ended
    probe: dict[str, Any] | None = None  # what its next task checks first (the preflight)
    probed: dict[str, Any] | None = None  # the probe's answer its task sent
    refused: ConfigError | None = None  # its executor failed the probe: it runs no trial

    @property
    def tag(self) -> str:
        return f"sparktf-slot-{self.index}-{self.generation}"


class SlotBackend(ConnectBackend):
    """Long-lived slot tasks that ask for trials (per-trial queries where they cannot).

    Args:
        spark: the session (Spark Connect, or classic: it uses the DataFrame API only).
        required: ``--dispatch slot`` was asked for (no quiet fallback).
    """

    def __init__(self, spark: Any, required: bool = False) -> None:
        super().__init__(spark)
        self.required = required
        self.per_trial = False
        self.address: ChannelAddress | None = None
        self.cv = threading.Condition()
        self.pending: deque[_Attempt] = deque()
        self.by_tag: dict[str, _Attempt] = {}
        self.slot_list: list[_Slot] = []
        self.idle = 0  # slots waiting for a trial
        self.starting = 0  # slots whose task has not asked yet
        self.closing = False
        self.broken: BaseException | None = None  # every slot gave up: why
        self.needs: Needs | None = None  # what the slot tasks' probes check
        self.monitor: threading.Thread | None = None

    def queue_ahead(self, parallelism: int) -> int:
        return 0  # a freed slot asks the driver, which has the next trial asked ahead

    def open(self, objective: Objective, data: Any, channel: ChannelAddress | None) -> None:
        super().open(objective, data, channel)
        self.address = channel
        self.per_trial = self.per_trial or channel is None

    def preflight(self, needs: Needs, tasks: int, parallelism: int) -> Preflight:
        """The preflight run by the study's first slot tasks (one per trial in flight, up to
        the task slots), which then wait for trials: no query of its own. It answers with the
        slot tasks that have started (the others may wait for a core); one that starts later
        and fails a check is stopped and runs no trial. Where no slot task could start or
        reach the report channel, the probe job runs and tells why."""
        if self.per_trial or needs.channel is None:
            return super().preflight(needs, tasks, parallelism)
        t0 = time.perf_counter()
        probe = probe_config(needs)
        with self.cv:
            self.needs = needs
            probing = [self._start_slot(probe) for _ in range(max(1, min(tasks, parallelism)))]
            while not any(s.probed for s in probing) and not all(s.ends for s in probing):
                self.cv.wait()
            answers = [s.probed for s in probing if s.probed is not None]
        if answers:
            seconds = time.perf_counter() - t0
            return preflight_of(answers, needs, seconds, by="the study's slot tasks")
        return super().preflight(needs, tasks, parallelism)  # (its channel check decides)

    def channel_checked(self, reachable: bool) -> str | None:
        if reachable or self.per_trial:
            return None
        if self.required:
            raise ConfigError(
                "--dispatch slot: the executors cannot reach the driver's report channel (see "
                "the preflight's warning); give --channel-address HOST:PORT, or use "
                "--dispatch trial"
            )
        self.per_trial = True
        return "the executors cannot reach the report channel: one Spark query per trial"

    def channel_events(self) -> Mapping[str, EventHandler]:
        return {"slot-next": self._on_next, "slot-watch": self._on_watch}

    # -- the dispatcher's side ---------------------------------------------------------------

    def attempt(self, task: TrialTask, tag: str, submit: Submit) -> Job:
        if self.per_trial:
            return super().attempt(task, tag, submit)
        one = _Attempt(task, tag)
        return lambda stopping: self._run(one, stopping)

    def _run(self, one: _Attempt, stopping: Callable[[], bool]) -> TrialOutcome:
        with self.cv:
            if stopping() or self.closing:
                raise RuntimeError(f"trial {one.task.number}: cancelled before it started")
            if self.broken is not None:  # (a new exception: each attempt raises its own)
                raise RuntimeError(str(self.broken))
            self.by_tag[one.tag] = one
            self.pending.append(one)
            self._grow()
            self.cv.notify_all()
        one.done.wait()
        if one.error is not None:
            raise one.error
        assert one.outcome is not None
        return one.outcome

    def cancel(self, tag: str) -> None:
        if self.per_trial:
            super().cancel(tag)
            return
        with self.cv:
            one = self.by_tag.get(tag)
            if one is None or one.done.is_set() or one.cancelled:
                return
            one.cancelled = True
            if one.slot is None:  # still waiting for a slot
                self.pending.remove(one)
                self._end(one, error=RuntimeError(f"trial {one.task.number}: cancelled"))
                return
            self.cv.notify_all()  # its task's watcher hears it
        timer = threading.Timer(GRACE, self._force, args=(one,))
        timer.daemon = True
        timer.start()

    def _force(self, one: _Attempt) -> None:
        """The cancelled trial did not end inside its task: interrupt its slot's query."""
        with self.cv:
            slot = one.slot
            if one.done.is_set() or slot is None or slot.current is not one:
                return
            tag = slot.tag
        log.debug("trial %s ignored its cancel: interrupting %s", one.task.number, tag)
        self._interrupt(tag)

    def close(self) -> None:
        with self.cv:
            self.closing = True
            for one in list(self.pending):
                self._end(one, error=RuntimeError(f"trial {one.task.number}: the study stopped"))
            self.pending.clear()
            self.cv.notify_all()
        give_up = time.monotonic() + 10.0
        for slot in self.slot_list:
            if slot.thread is not None:
                slot.thread.join(timeout=max(0.0, give_up - time.monotonic()))
                if slot.thread.is_alive():  # its task did not hear "stop" (busy, or lost)
                    self._interrupt(slot.tag)
        super().close()

    # -- slots -------------------------------------------------------------------------------

    def _grow(self) -> None:
        """Start a slot when an attempt waits and no slot is idle or starting (under cv)."""
        if len(self.pending) > self.idle + self.starting:
            self._start_slot()

    def _start_slot(self, probe: dict[str, Any] | None = None) -> _Slot:
        """(under cv) Start one more slot (whose task runs the preflight's ``probe`` first)."""
        if self.monitor is None:
            self.monitor = threading.Thread(
                target=self._watch_slots, name="sparktf-slots", daemon=True
            )
            self.monitor.start()
        slot = _Slot(len(self.slot_list), probe=probe)
        self.slot_list.append(slot)
        self.starting += 1
        slot.thread = threading.Thread(
            target=self._keep, args=(slot,), name=f"sparktf-slot-{slot.index}", daemon=True
        )
        slot.thread.start()
        return slot

    def _keep(self, slot: _Slot) -> None:
        """Keep ``slot``'s task running (a driver thread) until the study closes."""
        while True:
            error = self._serve(slot)
            with self.cv:
                slot.ends += 1
                self.cv.notify_all()
                one, slot.current = slot.current, None
                if one is not None:  # the task ended while it ran a trial
                    self._end(one, error=error or RuntimeError("the slot task ended"))
                if slot.refused is not None:
                    self._give_up(slot, slot.refused)
                    return
                if error is None or self.closing or self.per_trial:
                    if not slot.asked:
                        self.starting -= 1
                    return
                if slot.asked:
                    slot.failed_starts = 0
                else:
                    self.starting -= 1
                    slot.failed_starts += 1
                    if slot.failed_starts >= FAILED_STARTS:
                        self._give_up(slot, error)
                        return
                log.debug("slot %s: its task ended (%s); starting it again", slot.index, error)
                self.starting += 1

    def _serve(self, slot: _Slot) -> BaseException | None:
        """Run one generation of ``slot``'s task; the error that ended it (None: told to stop)."""
        assert self.objective is not None and self.address is not None
        with self.cv:
            slot.generation += 1
            slot.asked = False
            generation, probe, slot.probe = slot.generation, slot.probe, None
        runner = slot_runner(self.objective, self.data, self.address, slot.index, generation, probe)
        try:
            frame = self.one_row.mapInArrow(runner, self.outcome_type)
            with self.jobs.tagged(slot.tag):  # (no rows to fetch: no round trip after it)
                frame.write.format("noop").mode("overwrite").save()
        except Exception as exc:
            return exc
        return None

    def _watch_slots(self) -> None:
        """Fail the trial of a slot whose task fell silent (its executor lost) and start the
        slot again; wakes at the next such deadline."""
        with self.cv:
            while not self.closing:
                now = time.monotonic()
                busy = [s for s in self.slot_list if s.current is not None]
                for slot in busy:
                    if now - slot.heard >= LOST_AFTER:
                        self._lost(slot)
                due = [s.heard + LOST_AFTER for s in busy if s.current is not None]
                self.cv.wait(max(0.05, min(due) - now) if due else None)

    def _lost(self, slot: _Slot) -> None:
        """(under cv) ``slot``'s task is gone: its trial fails, its query is interrupted (its
        thread then starts it again)."""
        one, slot.current = slot.current, None
        tag = slot.tag
        slot.generation += 1  # the old task, should it come back, is told to stop
        if one is not None:
            self._end(
                one, error=RuntimeError(f"the executor was lost: slot task {tag} fell silent")
            )
        threading.Thread(target=self._interrupt, args=(tag,), daemon=True).start()

    def _interrupt(self, tag: str) -> None:
        try:
            self.jobs.cancel(tag)
        except Exception as exc:  # the session may be gone (a stop signal)
            log.debug("could not interrupt %s: %s", tag, exc)

    def _give_up(self, slot: _Slot, error: BaseException) -> None:
        """(under cv) ``slot`` keeps dying before it asks: when no other slot lives, the
        attempts waiting fail with its error."""
        log.debug("slot %s gave up: %s", slot.index, error)
        alive = [s for s in self.slot_list if s is not slot and s.failed_starts < FAILED_STARTS]
        if alive:
            return
        self.broken = error
        for one in list(self.pending):
            self._end(one, error=error)
        self.pending.clear()

    def _end(self, one: _Attempt, outcome: TrialOutcome | None = None, **kw: Any) -> None:
        """(under cv) ``one`` is over."""
        self.by_tag.pop(one.tag, None)
        one.end(outcome, kw.get("error"))
        self.cv.notify_all()

    # -- the slot tasks' requests (channel threads) ------------------------------------------

    def _on_next(self, msg: dict[str, Any]) -> dict[str, Any]:
        """A slot task's outcome of its last trial, if any, and its request for the next."""
        index, generation = int(msg["slot"]), int(msg["gen"])
        with self.cv:
            slot = self.slot_list[index]
            if slot.generation != generation:
                return {"action": "stop"}  # a task the driver has replaced
            slot.heard = time.monotonic()
            if not slot.asked:
                slot.asked = True
                self.starting -= 1
            if isinstance(msg.get("probe"), dict):
                self._probed(slot, msg["probe"])
                if slot.refused is not None:
                    return {"action": "stop"}
            self._finished(slot, msg.get("done"))
            give_up = time.monotonic() + NEXT_WAIT
            self.idle += 1
            try:
                while not (self.pending or self.closing or self.per_trial) and (
                    time.monotonic() < give_up
                ):
                    self.cv.wait(give_up - time.monotonic())
            finally:
                self.idle -= 1
            if self.closing or self.per_trial:
                return {"action": "stop"}
            if not self.pending:
                return {"action": "wait"}
            one = self.pending.popleft()
            one.slot, slot.current = slot, one
            slot.heard = time.monotonic()
            self.cv.notify_all()  # the monitor's next deadline
        return {"action": "run", "tag": one.tag, "task": task_to_json(one.task)}

    def _probed(self, slot: _Slot, answer: dict[str, Any]) -> None:
        """(under cv) ``slot``'s task sent its probe's answer: refuse the slot when it fails
        a check (the preflight says so where it was among the first)."""
        slot.probed = answer
        self.cv.notify_all()
        assert self.needs is not None
        try:
            preflight_of([answer], self.needs, 0.0).raise_if_failed()
        except (ConfigError, KeyError, TypeError) as exc:
            slot.refused = ConfigError(f"slot task {slot.tag} refused: {exc}")
            slot.failed_starts = FAILED_STARTS

    def _finished(self, slot: _Slot, done: dict[str, Any] | None) -> None:
        """(under cv) The outcome the slot's task sent for its trial (``done``)."""
        one, slot.current = slot.current, None
        if one is None:
            return
        if done is None or done.get("tag") != one.tag:  # Spark started the task again
            self._end(one, error=RuntimeError("the executor was lost: its slot task restarted"))
        elif done.get("outcome") is None:
            self._end(one, error=RuntimeError(f"trial {one.task.number}: cancelled"))
        else:
            try:
                self._end(one, outcome_from_json(done["outcome"]))
            except (KeyError, TypeError, ValueError) as exc:
                self._end(one, error=RuntimeError(f"the slot task sent no outcome: {exc}"))

    def _on_watch(self, msg: dict[str, Any]) -> dict[str, Any]:
        """A running trial's watcher: answered when the driver cancels the trial (or it
        ended, or after a while)."""
        tag = str(msg["tag"])
        give_up = time.monotonic() + WATCH_WAIT
        with self.cv:
            one = self.by_tag.get(tag)
            if one is not None and one.slot is not None and one.slot.current is one:
                one.slot.heard = time.monotonic()
            while (
                one is not None
                and not one.cancelled
                and not one.done.is_set()
                and not self.closing
                and time.monotonic() < give_up
            ):
                self.cv.wait(give_up - time.monotonic())
            cancel = one is not None and one.cancelled and not one.done.is_set()
        return {"cancel": cancel or (one is not None and self.closing)}
