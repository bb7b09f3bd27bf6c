"""Driver side: ask Optuna for trials, run each on Spark through a backend, tell Optuna how it
ended.

Dispatch is event-driven: ``concurrent.futures.wait(FIRST_COMPLETED)`` wakes the loop the moment
a trial's attempt returns, and the freed slot gets its next trial at once. The dispatcher is
handed a :class:`~sparktf.execution.backends.Backend`, which runs each attempt (its own Spark
job, query or slot task, so one trial can be cancelled without touching the others) and says
how many attempts may wait in Spark's queue; the slot policy (:mod:`.slot_policy`) follows.

Each trial in flight has an explicit :class:`~sparktf.execution.trial_run.Phase` in the one
:class:`~sparktf.execution.trial_run.Registry`; only the dispatch loop changes it, through
``TrialRun.move``, which rejects impossible moves. Job threads and the report channel post
events (a trial started on the slot its predecessor freed; an attempt's own "I have started"
from its executor) that the loop applies. :class:`~sparktf.execution.telling.Teller` tells
Optuna.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, InvalidStateError, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sparktf.execution.backends import Backend, Job
from sparktf.execution.channel import ChannelAddress, ChannelServer
from sparktf.execution.runner import Objective, TrialOutcome, TrialTask
from sparktf.execution.settings import DispatchSettings
from sparktf.execution.slot_policy import SlotPolicy, slot_policy
from sparktf.execution.telling import Teller
from sparktf.execution.trial_run import Phase, Registry, TrialRun
from sparktf.search import record
from sparktf.signals import raise_if_stopped

if TYPE_CHECKING:
    import optuna

log = logging.getLogger("sparktf.dispatch")

__all__ = ["DispatchSettings", "Dispatcher", "Phase", "TrialRun", "spark_failure"]


class Dispatcher:
    """Runs a study's trials on Spark until ``settings.trials`` of them have finished.

    Args:
        backend: how attempts run on Spark (the dispatcher never asks which one it is).
        study: the Optuna study (storage already opened).
        suggest: turns a fresh ``optuna.Trial`` into a parameter dict.
        objective: what each trial runs.
        data: the data to ship to the executors once (None for none).
        settings: counts, metric, timeouts.
        on_finished: called on the driver after each trial is told to Optuna.
        on_event: called with a short text for the progress display (retries, warnings).
        on_started: called on the driver after each new trial got its parameters.
        on_slots: called by the dispatch loop whenever the trials holding a slot may have
            changed (before it waits), e.g. to refresh a display of ``active()``.
        before_trials: called with the report channel's address (None without one) once the
            channel listens and the backend is open, before any trial starts (the
            preflight); may raise to refuse.
    """

    def __init__(
        self,
        backend: Backend,
        study: optuna.Study,
        suggest: Callable[[optuna.Trial], dict[str, Any]],
        objective: Objective,
        data: Any,
        settings: DispatchSettings,
        on_finished: Callable[[optuna.Trial, TrialOutcome | None], None],
        on_event: Callable[[str], None],
        on_started: Callable[[optuna.Trial], None] | None = None,
        on_slots: Callable[[], None] | None = None,
        before_trials: Callable[[ChannelAddress | None], None] | None = None,
    ) -> None:
        self.backend = backend
        self.study = study
        self.suggest = suggest
        self.objective = objective
        self.data = data
        self.s = settings
        self.on_event = on_event
        self.on_started = on_started
        self.on_slots = on_slots
        self.before_trials = before_trials
        self.lock = threading.RLock()  # every Optuna call goes through it
        self.trials = Registry(self.lock)
        self.teller = Teller(study, settings, self.trials, on_finished, on_event, self._stop_all)
        self.slots: SlotPolicy = slot_policy(settings.parallelism, 0)
        self.stopping = False
        self.refused_reports = 0
        # from the report channel: (trial, attempt, when) an attempt said it had started
        self.starts: deque[tuple[int, int, float]] = deque()
        self.starts_heard = False  # the channel brings start reports in this study
        self._wake: Future[None] = Future()  # a start report wakes the loop (it moves a deadline)
        self._loop: _Loop | None = None

    @property
    def gave_up(self) -> str | None:
        """Why the study stopped early (``--max-failures``), or None."""
        return self.teller.gave_up

    def active(self) -> int:
        """Trials holding a Spark slot now (not those queued ahead)."""
        return sum(1 for run in self.trials.in_flight() if run.phase is not Phase.QUEUED)

    # -- main loop ---------------------------------------------------------------------------

    def run(self) -> None:
        """Run trials until the target count is reached, the study times out, or Ctrl-C.

        Raises:
            KeyboardInterrupt: after cancelling the running trials and recording them.
        """
        backend = self.backend
        self.slots = slot_policy(self.s.parallelism, backend.queue_ahead(self.s.parallelism))
        self.teller.finished = self.teller.finished_count()
        with (
            ChannelServer(
                self.teller.report,
                host=backend.channel_host(),
                advertise=self.s.channel_advertise,
                on_start=self._on_start,
                on_measures=self.teller.measures,
                events=backend.channel_events(),
            ) as channel,
            ThreadPoolExecutor(
                max_workers=self.slots.capacity + self.s.parallelism,  # room for retries
                thread_name_prefix="sparktf-trial",
            ) as pool,
        ):
            self._loop = _Loop(pool, channel.address if self.s.channel else None)
            try:
                backend.open(self.objective, self.data, self._loop.channel)
                if self.before_trials is not None:
                    self.before_trials(self._loop.channel)
                self._adopt_orphans()
                self._dispatch()
            except KeyboardInterrupt as exc:
                self._interrupted(getattr(exc, "reason", "interrupted by the user (Ctrl-C)"))
                raise
            finally:
                self._loop = None
                self._drop_ready()
                self.refused_reports = channel.refused
                backend.close()  # (slot tasks hear "stop" while the channel still listens)

    def _dispatch(self) -> None:
        """The dispatch loop: fill the slots, wait for a job to end or a deadline, repeat."""
        study_deadline = time.time() + self.s.timeout if self.s.timeout else None
        while True:
            raise_if_stopped()  # (a stop that a library's exception handling lost)
            if study_deadline and time.time() >= study_deadline and not self.stopping:
                self._stop_all("the study's --timeout was reached")
            self._fill()
            in_flight = self.trials.in_flight()
            if not in_flight:
                return
            self._ask_ahead()
            self._take_slots()
            if self.on_slots is not None:
                self.on_slots()
            waited: list[Future[Any]] = [r.future for r in in_flight if r.future is not None]
            done, _ = wait(
                [*waited, self._wake],
                timeout=self._wait_time(study_deadline),
                return_when=FIRST_COMPLETED,
            )
            self._wake = Future()  # (before the merge: a report from now on wakes the next wait)
            self._merge_chained()
            self._merge_starts()
            self._cancel_overdue(done)
            ended = [r for r in self.trials.in_flight() if r.future in done]
            for run in ended:
                run.move(Phase.RETURNED)
            self._take_slots()
            if self.slots.chains:  # the freed slots get their next trials before bookkeeping
                self._fill()
            # (queue-ahead: the freed slots already run the queued trials; tell Optuna first, so
            # that the trials asked next know how these ended)
            for run in ended:
                self._complete(run)

    def _wait_time(self, study_deadline: float | None) -> float | None:
        """How long the loop may sleep: until the nearest trial or study deadline."""
        in_flight = self.trials.in_flight()
        deadlines = [d for d in map(self._due, in_flight) if d]
        if study_deadline and not self.stopping:
            deadlines.append(study_deadline)
        if self.stopping:
            deadlines.append(time.time() + 1.0)
            self._cancel_again(in_flight)
        return max(0.0, min(deadlines) - time.time()) if deadlines else None

    def _interrupted(self, reason: str) -> None:
        """Ctrl-C or a stop signal: cancel every running trial, wait for their jobs, record
        them interrupted (their checkpoints stay for ``--resume``)."""
        import optuna

        self._stop_all(reason)
        give_up = time.time() + 60
        while time.time() < give_up:
            in_flight = self.trials.in_flight()
            _, left = wait([r.future for r in in_flight if r.future], timeout=1.0)
            if not left:
                break
            self._cancel_again(r for r in in_flight if r.future in left)
        self._merge_chained()
        for run in self.trials.in_flight():
            self.teller.tell(
                run, None, optuna.trial.TrialState.FAIL, error=run.cancel_reason, interrupted=True
            )

    def _drop_ready(self) -> None:
        """Trials asked ahead but never started: recorded as not started."""
        import optuna

        for run in self.trials.ready():
            self.teller.tell(
                run,
                None,
                optuna.trial.TrialState.FAIL,
                error="not started: the study stopped first",
                interrupted=True,
            )

    def _stop_all(self, reason: str) -> None:
        with self.lock:  # no job thread starts a trial after this
            self.stopping = True
            self._merge_chained()
        self.on_event(f"{reason}: cancelling running trials")
        for run in self.trials.in_flight():
            self._cancel(run, reason)

    # -- filling the slots -------------------------------------------------------------------

    def _outstanding(self) -> int:
        """Trials told, in flight or asked ahead."""
        return self.teller.finished + len(self.trials)

    def _fill(self) -> None:
        """Start trials on free slots: asked-ahead ones first, then new ones."""
        if self.stopping:
            return
        with self.lock:  # no job thread takes an asked-ahead trial meanwhile
            self._merge_chained()
            while len(self.trials.in_flight()) < self.slots.capacity:
                ready = self.trials.ready()
                if ready:
                    self._submit(ready[0])
                elif self._outstanding() < self.s.trials:
                    self._submit(self._new_trial())
                else:
                    break

    def _ask_ahead(self) -> None:
        """Ask Optuna for the next trials while the slots are busy (up to one per slot), so
        that freed slots get them without waiting for the sampler and the storage. Stops as
        soon as a running trial ends: refilling its slot comes first."""
        if not self.slots.asks_ahead:  # (queue-ahead: the queued jobs are the trials asked ahead)
            return
        while True:
            with self.lock:  # counts are exact: no job thread is moving a trial meanwhile
                in_flight = self.trials.in_flight()
                if (
                    self.stopping
                    or len(self.trials.ready()) >= self.s.parallelism
                    or len(in_flight) + len(self.trials.chained()) < self.s.parallelism
                    or self._outstanding() >= self.s.trials
                    or any(r.future is not None and r.future.done() for r in in_flight)
                ):
                    return
                self._new_trial()

    def _new_trial(self) -> TrialRun:
        with self.lock:
            trial = self.study.ask()
            params = self.suggest(trial)
            if self.on_started is not None:
                self.on_started(trial)
            run = TrialRun(trial, params, 1)
            self.trials.add(run)
        return run

    def _adopt_orphans(self) -> None:
        """Trials the study holds as RUNNING, which a lost driver was running (``--resume``),
        run first, under their own numbers and parameters (from their checkpoints, if any)."""
        import optuna

        from sparktf.search.optuna_compat import trial_id_of

        with self.lock:
            for t in self.study.get_trials(
                deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)
            ):
                if t.number in self.trials:
                    continue
                params = dict(t.user_attrs.get(record.PARAMS) or t.params)
                trial = optuna.trial.Trial(self.study, trial_id_of(t))
                self.trials.add(TrialRun(trial, params, 1, reported=set(t.intermediate_values)))

    def _submit(self, run: TrialRun) -> None:
        """Start ``run``'s attempt (dispatch loop): on a free slot, or queued in Spark."""
        submit = self.slots.submit(len(self.trials.in_flight()))
        self._start(run, self.backend.attempt(self._task(run), run.tag, submit))
        if self.slots.chains:
            self._take_slot(run, time.time())
        else:
            run.move(Phase.QUEUED)  # until ``_take_slots`` sees it hold a slot

    def _start(self, run: TrialRun, job: Job) -> None:
        assert self._loop is not None
        # its reports are accepted from now on
        self.trials.started(run, self._loop.pool.submit(self._run_job, job))

    def _run_job(self, job: Job) -> TrialOutcome:
        """Run one attempt (in a job thread) and return its outcome."""
        result = job(lambda: self.stopping)
        self._chain()
        return result

    def _chain(self) -> None:
        """Start the next asked-ahead trial on the slot this thread's trial has just freed,
        without waiting for the dispatch loop, which may be busy telling Optuna and writing
        outputs for other trials. The loop applies the start (``_merge_chained``)."""
        with self.lock:
            ready = self.trials.ready()
            if self.stopping or not ready or self._loop is None or not self.slots.chains:
                return
            run = ready[0]
            try:
                job = self.backend.attempt(self._task(run), run.tag, self.slots.submit(0))
                run.chained_at = time.time()
                self._start(run, job)
            except Exception as exc:  # the dispatch loop starts it instead
                log.debug("could not chain trial %s: %s", run.number, exc)
                run.future = None

    def _merge_chained(self) -> None:
        with self.lock:
            for run in self.trials.chained():
                self._take_slot(run, run.chained_at or time.time())

    def _task(self, run: TrialRun) -> TrialTask:
        assert self._loop is not None
        return TrialTask(
            number=run.number,
            params=run.params,
            attempt=run.attempt,
            metric=self.s.metric,
            direction=self.s.direction,
            monitor=self.s.monitor,
            channel=self._loop.channel,
            # goals: every model back
            best_value=None if self.s.goals else self.teller.best_value,
            val_fraction=self.s.val_fraction,
            measures=self.s.goals.measures if self.s.goals else (),
            checkpoints=self.s.checkpoints,
            lineage=record.lineage(run.trial.user_attrs, run.number),
        )

    # -- slots and clocks --------------------------------------------------------------------

    def _take_slots(self) -> None:
        """The queued attempts that the slot policy says now hold a slot start their clock."""
        now = time.time()
        self.slots.take_slots(self.trials.in_flight(), lambda run: self._take_slot(run, now))

    def _take_slot(self, run: TrialRun, now: float) -> None:
        """The trial runs from ``now``: its ``--trial-timeout`` counts from here."""
        run.move(Phase.RUNNING)
        self._start_clock(run, now)

    def _start_clock(self, run: TrialRun, now: float) -> None:
        run.started = now
        run.deadline = now + self.s.trial_timeout if self.s.trial_timeout else None

    def _on_start(self, number: int, attempt: int) -> None:
        """(a channel thread) An attempt says it started: the loop applies it at once, as
        the trial's deadline may now be sooner than the one it sleeps until."""
        self.starts.append((number, attempt, time.time()))
        with contextlib.suppress(InvalidStateError):  # (already woken)
            self._wake.set_result(None)

    def _merge_starts(self) -> None:
        """Apply the attempts' own start reports: a trial's ``--trial-timeout`` counts from
        when it really started, which the queue-ahead guess may have got wrong (a Spark
        Connect server can start queued requests in another order than they were sent)."""
        while self.starts:
            number, attempt, at = self.starts.popleft()
            run = self.trials.get(number)
            if run is None or run.attempt != attempt:
                continue
            self.starts_heard = True
            run.start_reported = True
            if run.phase is Phase.QUEUED:
                self._take_slot(run, at)
            elif run.phase is Phase.RUNNING:
                self._start_clock(run, at)

    def _due(self, run: TrialRun) -> float | None:
        """When ``run`` times out. One that took its slot by the queue-ahead guess but has not
        said it started, where the others do, may still be waiting: it gets one more
        ``--trial-timeout`` (a start report, once it comes, sets the exact time)."""
        if run.deadline and self.starts_heard and not run.start_reported:
            return run.deadline + (self.s.trial_timeout or 0.0)
        return run.deadline

    # -- cancelling and ending ---------------------------------------------------------------

    def _cancel_overdue(self, done: set[Future[TrialOutcome]]) -> None:
        now = time.time()
        for run in self.trials.in_flight():
            due = self._due(run)
            if run.future not in done and due and now >= due:
                self._cancel(run, f"timed out after {self.s.trial_timeout:g}s (--trial-timeout)")

    def _cancel_again(self, runs: Iterable[TrialRun]) -> None:
        """Cancel these trials' jobs once more: a job that its thread submitted just as its
        group or tag was cancelled escaped that cancel."""
        for run in runs:
            self._cancel_job(run)

    def _cancel(self, run: TrialRun, reason: str) -> None:
        if run.phase in (Phase.RUNNING, Phase.QUEUED):
            run.cancel_reason = reason
            run.move(Phase.CANCELLING)
            self._cancel_job(run)

    def _cancel_job(self, run: TrialRun) -> None:
        """Cancel ``run``'s attempt. Spark may be gone already (a SIGTERM sent to the whole
        process group stops the JVM too): its jobs then end by themselves."""
        try:
            self.backend.cancel(run.tag)
        except Exception as exc:
            log.debug("could not cancel trial %s: %s", run.number, exc)

    def _complete(self, run: TrialRun) -> None:
        """Tell Optuna how ``run``'s attempt ended, or retry it."""
        import optuna

        FAIL = optuna.trial.TrialState.FAIL
        assert run.future is not None
        exc = run.future.exception()
        if exc is None:
            self.teller.finish(run, run.future.result())
            return
        if run.cancel_reason is not None:
            interrupted = "timed out" not in run.cancel_reason
            self.teller.tell(run, None, FAIL, error=run.cancel_reason, interrupted=interrupted)
            return
        reason = spark_failure(exc)
        if run.attempt <= self.s.max_retries and not self.stopping:
            self.on_event(
                f"trial {run.number}: {reason}; retrying "
                f"(attempt {run.attempt + 1} of {self.s.max_retries + 1})"
            )
            run.move(Phase.ENDED)
            self._submit(run.retry())
            return
        self.teller.tell(
            run,
            None,
            FAIL,
            error=f"{reason} (after {run.attempt} attempt(s))\n{_first_lines(str(exc), 30)}",
        )


@dataclass(frozen=True)
class _Loop:
    """What the dispatch loop's helpers share while it runs."""

    pool: ThreadPoolExecutor
    channel: ChannelAddress | None


def _first_lines(text: str, n: int) -> str:
    return "\n".join(text.splitlines()[:n])


def spark_failure(exc: BaseException) -> str:
    """Why a trial's Spark task failed, in one line: a lost worker, or the exception that the
    Python worker raised (its own last line, not Spark's wrapper text)."""
    text = str(exc)
    if "exited unexpectedly" in text or "crashed" in text or "EOFError" in text:
        return "the Python worker crashed"
    if "ExecutorLostFailure" in text or "executor lost" in text.lower():
        return "the executor was lost"
    if "cancelled" in text.lower() or "canceled" in text.lower():
        return "the Spark job was cancelled"
    line = record.error_line(text) or type(exc).__name__
    return f"the Spark task failed: {line}"
