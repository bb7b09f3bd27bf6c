"""Driver side: ask Optuna for trials, run each as one Spark task, tell Optuna how it ended.

Dispatch is event-driven: ``concurrent.futures.wait(FIRST_COMPLETED)`` wakes the loop the moment
a trial's Spark job returns, and the freed slot gets its next trial at once. Each attempt is its
own Spark job (a :class:`~sparktf.execution.jobs.JobRunner` runs it: job groups on a classic
session, session tags on Spark Connect), so one trial can be cancelled (timeout, Ctrl-C) without
touching the others.

Each trial in flight has an explicit :class:`Phase`; only the dispatch loop changes it, through
:meth:`TrialRun.move`, which rejects impossible moves. Job threads and the report channel post
events (a job that ended is a finished future; a trial started on a slot its predecessor freed
is put on ``chained``; an attempt's own "I have started" from its executor is put on
``starts``) that the loop applies.

When the study may use every task slot of the cluster (``--parallelism`` at least the slots, no
dynamic allocation), the next trials are submitted *ahead*: their Spark jobs wait in Spark's own
FIFO queue, so a slot that frees starts the next trial inside the JVM, with no round trip through
the driver's Python and with the job's submission work done while the slots were busy. Spark's
slots cap how many of them run at once; the oldest jobs hold the slots, the others wait, and a
trial's ``--trial-timeout`` counts from when it took a slot, not from its submission. Which jobs
hold the slots is a guess from the order of submission (exact on a classic session, which
submits in order; a Connect server may plan two requests in the other order); each attempt's
start report over the report channel corrects it.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from sparktf.execution.channel import ChannelAddress, ChannelServer
from sparktf.execution.checkpoints import CheckpointPlace
from sparktf.execution.jobs import JobRunner, SubmitOrder, job_runner
from sparktf.execution.runner import Objective, Outcome, TrialOutcome, TrialTask
from sparktf.search import record
from sparktf.search.goals import Goals
from sparktf.search.moasha import OptunaPruning, StepPruning
from sparktf.search.study import is_better

if TYPE_CHECKING:
    import optuna
    from pyspark.sql import SparkSession

log = logging.getLogger("sparktf.dispatch")


class Phase(str, Enum):
    """Where a trial in flight is."""

    ASKED = "asked"  # parameters chosen ahead of a free slot; no job yet
    QUEUED = "queued"  # its job waits in Spark's queue behind the jobs holding the slots
    RUNNING = "running"  # its job holds a task slot; its --trial-timeout counts
    CANCELLING = "cancelling"  # its job was cancelled (timeout, study stop); awaiting its end
    ENDED = "ended"  # its job returned or never started; told to Optuna or retried


_MOVES: dict[Phase, frozenset[Phase]] = {
    Phase.ASKED: frozenset({Phase.QUEUED, Phase.RUNNING, Phase.ENDED}),
    Phase.QUEUED: frozenset({Phase.RUNNING, Phase.CANCELLING, Phase.ENDED}),
    Phase.RUNNING: frozenset({Phase.CANCELLING, Phase.ENDED}),
    Phase.CANCELLING: frozenset({Phase.ENDED}),
    Phase.ENDED: frozenset(),
}


@dataclass
class TrialRun:
    """One attempt of one trial, as the dispatch loop tracks it."""

    trial: optuna.Trial
    params: dict[str, Any]
    attempt: int
    phase: Phase = Phase.ASKED
    started: float | None = None  # when it took its slot (None: never did)
    deadline: float | None = None
    start_reported: bool = False  # its executor said when it started (the report channel)
    cancel_reason: str | None = None
    reported: set[int] = field(default_factory=set)

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


@dataclass(frozen=True)
class DispatchSettings:
    """What the dispatcher needs from the tune configuration (``TuneConfig`` holds the
    defaults; ``sparktf.tuning.api`` builds this from it)."""

    trials: int
    parallelism: int
    metric: str
    direction: str
    monitor: str
    max_retries: int
    trial_timeout: float | None
    timeout: float | None
    val_fraction: float
    channel: bool
    channel_advertise: str | None
    # > 0: Spark runs at most this many of the study's jobs at once (the cluster's task slots,
    # at most ``parallelism``), and up to this many more trials are submitted ahead to wait in
    # Spark's queue. 0: exactly ``parallelism`` jobs are submitted at a time.
    queue_ahead: int
    goals: Goals | None = None  # several objectives or constraints (None: one objective)
    pruning: StepPruning | None = None  # None: Optuna's pruner (MOASHA: several objectives)
    checkpoints: CheckpointPlace | None = None  # where trials save their checkpoints
    # stop the study when its first this many trials all failed with the same error (0: never)
    max_failures: int = 0


class Dispatcher:
    """Runs a study's trials on Spark until ``settings.trials`` of them have finished.

    Args:
        spark: the session (classic or Spark Connect).
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
            channel listens, before any trial starts (the preflight); may raise to refuse.
    """

    def __init__(
        self,
        spark: SparkSession,
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
        self.spark = spark
        self.study = study
        self.suggest = suggest
        self.objective = objective
        self.data = data
        self.s = settings
        self.on_finished = on_finished
        self.on_event = on_event
        self.on_started = on_started
        self.on_slots = on_slots
        self.pruning = settings.pruning or OptunaPruning()
        self.before_trials = before_trials
        self.lock = threading.RLock()  # every Optuna call goes through it
        self.running: dict[Future[TrialOutcome], TrialRun] = {}
        self.by_number: dict[int, TrialRun] = {}
        self.best_value: float | None = None
        self.stopping = False
        self.refused_reports = 0
        self.finished = 0  # trials told to Optuna that count towards the target
        self.ready: deque[TrialRun] = deque()  # trials asked ahead of a free slot
        # events from job threads: a trial started on the slot its predecessor just freed,
        # with when; applied by the dispatch loop (the only thread that changes a phase)
        self.chained: deque[tuple[Future[TrialOutcome], TrialRun, float]] = deque()
        # from the report channel: (trial, attempt, when) an attempt said it had started
        self.starts: deque[tuple[int, int, float]] = deque()
        self.starts_heard = False  # the channel brings start reports in this study
        self.jobs: JobRunner | None = None
        self._loop: _Loop | None = None
        self._submitting: list[threading.Event] = []  # queue-ahead: jobs not yet in Spark's queue
        # this run's failed trials' errors (None once a trial got through)
        self.failures: list[str] | None = []
        self.gave_up: str | None = None  # why the study stopped early (--max-failures)

    # -- counting ----------------------------------------------------------------------------

    def finished_count(self) -> int:
        """Trials that count towards the target (interrupted ones do not)."""
        import optuna

        done = (
            optuna.trial.TrialState.COMPLETE,
            optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL,
        )
        with self.lock:
            trials = self.study.get_trials(deepcopy=False, states=done)
        return sum(1 for t in trials if record.is_counted(t))

    def active(self) -> int:
        """Trials holding a Spark slot now (not those queued ahead)."""
        return sum(1 for run in list(self.running.values()) if run.phase is not Phase.QUEUED)

    # -- channel -----------------------------------------------------------------------------

    def _on_report(self, number: int, step: int, value: float) -> bool:
        with self.lock:
            run = self.by_number.get(number)
            if run is None or not math.isfinite(value):
                return False
            if step not in run.reported:
                self.pruning.report(run.trial, step, value)
                run.reported.add(step)
            return self.pruning.should_prune(run.trial, step)

    def _on_measures(self, number: int, measures: dict[str, float]) -> None:
        """A trial's measures known before training (MO-ASHA ranks its rungs on them)."""
        with self.lock:
            run = self.by_number.get(number)
            if run is not None:
                run.trial.set_user_attr(record.KNOWN, measures)

    def _on_start(self, number: int, attempt: int) -> None:
        self.starts.append((number, attempt, time.time()))  # applied by the loop

    def _merge_starts(self) -> None:
        """Apply the attempts' own start reports: a trial's ``--trial-timeout`` counts from
        when it really started, which the queue-ahead guess may have got wrong (a Spark
        Connect server can start queued requests in another order than they were sent)."""
        while self.starts:
            number, attempt, at = self.starts.popleft()
            run = self.by_number.get(number)
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

    # -- one attempt -------------------------------------------------------------------------

    def _run_job(self, task: TrialTask, tag: str, order: SubmitOrder | None) -> TrialOutcome:
        """Run one attempt (in a job thread) and return its outcome."""
        assert self.jobs is not None
        result = self.jobs.run(task, tag, lambda: self.stopping, order)
        self._chain()
        return result

    def _chain(self) -> None:
        """Start the next asked-ahead trial on the slot this thread's trial has just freed,
        without waiting for the dispatch loop, which may be busy telling Optuna and writing
        outputs for other trials. The loop applies the start (``_merge_chained``)."""
        with self.lock:
            if self.stopping or not self.ready or self._loop is None or self.s.queue_ahead:
                return
            run = self.ready.popleft()
            try:
                self.chained.append((self._start_job(run, None), run, time.time()))
            except Exception as exc:  # the dispatch loop starts it instead
                log.debug("could not chain trial %s: %s", run.trial.number, exc)
                self.ready.appendleft(run)

    def _merge_chained(self) -> None:
        with self.lock:
            while self.chained:
                fut, run, started = self.chained.popleft()
                self._take_slot(run, started)
                self.running[fut] = run

    def _task(self, run: TrialRun) -> TrialTask:
        assert self._loop is not None
        number = run.trial.number
        return TrialTask(
            number=run.trial.number,
            params=run.params,
            attempt=run.attempt,
            metric=self.s.metric,
            direction=self.s.direction,
            monitor=self.s.monitor,
            channel=self._loop.channel,
            best_value=None if self.s.goals else self.best_value,  # goals: every model back
            val_fraction=self.s.val_fraction,
            measures=self.s.goals.measures if self.s.goals else (),
            checkpoints=self.s.checkpoints,
            lineage=record.lineage(run.trial.user_attrs, number),
        )

    def _start_job(self, run: TrialRun, order: SubmitOrder | None) -> Future[TrialOutcome]:
        assert self._loop is not None
        self.by_number[run.trial.number] = run  # its reports are accepted from now on
        return self._loop.pool.submit(self._run_job, self._task(run), run.tag, order)

    def _submit(self, run: TrialRun) -> None:
        """Start ``run``'s job (dispatch loop): on a free slot, or queued in Spark."""
        if not self.s.queue_ahead:
            fut = self._start_job(run, None)
            self._take_slot(run, time.time())
        else:
            # Fewer jobs than slots: this one gets a slot whatever its place. Else it queues,
            # so it waits until every earlier job has its place in Spark's queue.
            self._submitting = [e for e in self._submitting if not e.is_set()]
            after = list(self._submitting) if len(self.running) >= self.s.queue_ahead else []
            order = SubmitOrder(after, threading.Event())
            self._submitting.append(order.submitted)
            fut = self._start_job(run, order)
            run.move(Phase.QUEUED)  # until ``_take_slots`` sees it hold a slot
        self.running[fut] = run

    def _capacity(self) -> int:
        """Jobs submitted at once: one per trial in flight, plus those queued ahead."""
        return self.s.parallelism + self.s.queue_ahead

    def _take_slots(self) -> None:
        """Queue-ahead mode: Spark's FIFO scheduler gives its slots to the oldest jobs, so the
        first ``queue_ahead`` jobs in submission order are running; a trial's clock (and its
        ``--trial-timeout``) starts when it gets there."""
        if not self.s.queue_ahead:
            return
        now = time.time()
        for run in itertools.islice(self.running.values(), self.s.queue_ahead):
            if run.phase is Phase.QUEUED:
                self._take_slot(run, now)

    def _take_slot(self, run: TrialRun, now: float) -> None:
        """The trial runs from ``now``: its ``--trial-timeout`` counts from here."""
        run.move(Phase.RUNNING)
        self._start_clock(run, now)

    def _start_clock(self, run: TrialRun, now: float) -> None:
        run.started = now
        run.deadline = now + self.s.trial_timeout if self.s.trial_timeout else None

    def _adopt_orphans(self) -> None:
        """Trials the study holds as RUNNING, which a lost driver was running (``--resume``),
        run first, under their own numbers and parameters (from their checkpoints, if any)."""
        import optuna

        from sparktf.search.optuna_compat import trial_id_of

        with self.lock:
            for t in self.study.get_trials(
                deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)
            ):
                if t.number in self.by_number:
                    continue
                params = dict(t.user_attrs.get(record.PARAMS) or t.params)
                trial = optuna.trial.Trial(self.study, trial_id_of(t))
                self.ready.append(TrialRun(trial, params, 1, reported=set(t.intermediate_values)))

    def _new_trial(self) -> TrialRun:
        with self.lock:
            trial = self.study.ask()
            params = self.suggest(trial)
            if self.on_started is not None:
                self.on_started(trial)
        return TrialRun(trial, params, 1)

    # -- finishing ---------------------------------------------------------------------------

    def _tell(
        self,
        run: TrialRun,
        outcome: TrialOutcome | None,
        state: Any,
        error: str | None = None,
        interrupted: bool = False,
    ) -> None:
        import optuna

        trial = run.trial
        started = run.phase in (Phase.RUNNING, Phase.CANCELLING) and run.started is not None
        run.move(Phase.ENDED)
        with self.lock:
            if outcome is not None:
                self._report_curve(run, outcome)
                attrs = record.encode(
                    attempts=run.attempt,
                    host=outcome.host,
                    pid=outcome.pid,
                    run_start=outcome.run_start,
                    run_end=outcome.run_end,
                    curve=outcome.curve,
                    metrics=outcome.metrics,
                    pruned_at=outcome.pruned_at,
                    warnings=outcome.warnings,
                    error=error,
                    data_cache_hit=outcome.data_cache_hit,
                    resumed_from=outcome.resumed_from,
                )
            else:
                attrs = record.encode(
                    attempts=run.attempt,
                    run_start=run.started if started else None,
                    run_end=time.time() if started else None,
                    error=error,
                    interrupted=interrupted,
                    not_started=not started,
                )
            for key, value in attrs.items():
                trial.set_user_attr(key, value)
            if state == optuna.trial.TrialState.COMPLETE:
                assert outcome is not None and outcome.value is not None
                if self.s.goals is not None:
                    self.s.goals.tell(self.study, trial, outcome.metrics)
                else:
                    self.study.tell(trial, outcome.value)
            else:
                self.study.tell(trial, state=state)
            self.by_number.pop(trial.number, None)
            if not interrupted:
                self.finished += 1
        if outcome is None and not interrupted:  # timed out or kept crashing: it is over
            self._clear_checkpoints(run)
        self.on_finished(trial, outcome)
        if not interrupted:
            self._count_failure(error if state == optuna.trial.TrialState.FAIL else None)

    def _clear_checkpoints(self, run: TrialRun) -> None:
        """Remove the checkpoints of a trial that ended without its executor doing so."""
        if self.s.checkpoints is None:
            return
        trial = run.trial
        lineage = record.lineage(trial.user_attrs, trial.number)
        try:
            self.s.checkpoints.for_trial(lineage, run.params).clear()
        except OSError as exc:
            log.debug("could not remove the checkpoints of trial %s: %s", trial.number, exc)

    def _count_failure(self, error: str | None) -> None:
        """``--max-failures``: stop a study whose first trials all fail with the same error
        (a broken objective or cluster) instead of burning every trial on it."""
        if self.gave_up is not None or self.failures is None:
            return
        if error is not None and error.startswith("timed out"):  # the user's own budget
            return
        if error is None:  # a trial got through: the errors are the trials' own
            self.failures = None
            return
        self.failures.append(record.error_line(error))
        n = self.s.max_failures
        if n and len(self.failures) >= n and len(set(self.failures)) == 1:
            self.gave_up = (
                f"the first {n} trials all failed with the same error: {self.failures[0]}"
            )
            self._stop_all(f"{self.gave_up} (--max-failures {n})")

    def _report_curve(self, run: TrialRun, outcome: TrialOutcome) -> None:
        """Tell Optuna the curve points the channel did not bring (e.g. no channel)."""
        for step, value in sorted(outcome.curve.items()):
            if step not in run.reported and math.isfinite(value):
                self.pruning.report(run.trial, step, value)
                run.reported.add(step)

    def _finish(self, run: TrialRun, outcome: TrialOutcome) -> None:
        import optuna

        for w in outcome.warnings:
            self.on_event(w)
        missing = self.s.goals.missing(outcome.metrics) if self.s.goals else None
        if outcome.state is Outcome.COMPLETE and missing:
            self._tell(run, outcome, optuna.trial.TrialState.FAIL, error=missing)
        elif outcome.state is Outcome.COMPLETE:
            assert outcome.value is not None
            if is_better(outcome.value, self.best_value, self.s.direction):
                self.best_value = outcome.value
            self._tell(run, outcome, optuna.trial.TrialState.COMPLETE)
        elif outcome.state is Outcome.PRUNED:
            self._tell(run, outcome, optuna.trial.TrialState.PRUNED)
        else:
            self._tell(run, outcome, optuna.trial.TrialState.FAIL, error=outcome.error)

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
        """Cancel ``run``'s Spark job. Spark may be gone already (a SIGTERM sent to the whole
        process group stops the JVM too): its jobs then end by themselves."""
        assert self.jobs is not None
        try:
            self.jobs.cancel(run.tag)
        except Exception as exc:
            log.debug("could not cancel trial %s: %s", run.trial.number, exc)

    # -- main loop ---------------------------------------------------------------------------

    def run(self) -> None:
        """Run trials until the target count is reached, the study times out, or Ctrl-C.

        Raises:
            KeyboardInterrupt: after cancelling the running trials and recording them.
        """
        jobs = self.jobs = job_runner(self.spark, self.objective, self.data)
        self.finished = self.finished_count()
        try:
            with (
                ChannelServer(
                    self._on_report,
                    host=jobs.channel_host(),
                    advertise=self.s.channel_advertise,
                    on_start=self._on_start,
                    on_measures=self._on_measures,
                ) as channel,
                ThreadPoolExecutor(
                    max_workers=self._capacity() + self.s.parallelism,  # room for retries
                    thread_name_prefix="sparktf-trial",
                ) as pool,
            ):
                self._loop = _Loop(pool, channel.address if self.s.channel else None)
                try:
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
        finally:
            jobs.close()

    def _dispatch(self) -> None:
        """The dispatch loop: fill the slots, wait for a job to end or a deadline, repeat."""
        study_deadline = time.time() + self.s.timeout if self.s.timeout else None
        while True:
            if study_deadline and time.time() >= study_deadline and not self.stopping:
                self._stop_all("the study's --timeout was reached")
            self._fill(pending=0)
            if not self.running:
                return
            self._prefetch()
            self._take_slots()
            if self.on_slots is not None:
                self.on_slots()
            done, _ = wait(
                list(self.running),
                timeout=self._wait_time(study_deadline),
                return_when=FIRST_COMPLETED,
            )
            self._merge_chained()
            self._merge_starts()
            self._cancel_overdue(done)
            ended = [(fut, self.running.pop(fut)) for fut in done]
            self._take_slots()
            if not self.s.queue_ahead:  # the freed slots get their next trials before bookkeeping
                self._fill(pending=len(ended))
            # (queue-ahead: the freed slots already run the queued trials; tell Optuna first, so
            # that the trials asked next know how these ended)
            for fut, run in ended:
                self._complete(fut, run)

    def _wait_time(self, study_deadline: float | None) -> float | None:
        """How long the loop may sleep: until the nearest trial or study deadline."""
        deadlines = [d for d in map(self._due, self.running.values()) if d]
        if study_deadline and not self.stopping:
            deadlines.append(study_deadline)
        if self.stopping:
            deadlines.append(time.time() + 1.0)
            self._cancel_again(self.running.values())
        return max(0.0, min(deadlines) - time.time()) if deadlines else None

    def _cancel_overdue(self, done: set[Future[TrialOutcome]]) -> None:
        now = time.time()
        for fut, run in list(self.running.items()):
            due = self._due(run)
            if fut not in done and due and now >= due:
                self._cancel(run, f"timed out after {self.s.trial_timeout:g}s (--trial-timeout)")

    def _interrupted(self, reason: str) -> None:
        """Ctrl-C or a stop signal: cancel every running trial, wait for their jobs, record
        them interrupted (their checkpoints stay for ``--resume``)."""
        import optuna

        self._stop_all(reason)
        give_up = time.time() + 60
        while self.running and time.time() < give_up:
            _, left = wait(list(self.running), timeout=1.0)
            if not left:
                break
            self._cancel_again(self.running[fut] for fut in left)
        self._merge_chained()
        for fut, run in list(self.running.items()):
            self.running.pop(fut)
            self._tell(
                run, None, optuna.trial.TrialState.FAIL, error=run.cancel_reason, interrupted=True
            )

    def _drop_ready(self) -> None:
        """Trials asked ahead but never started: recorded as not started."""
        import optuna

        for run in self.ready:
            self._tell(
                run,
                None,
                optuna.trial.TrialState.FAIL,
                error="not started: the study stopped first",
                interrupted=True,
            )
        self.ready.clear()

    def _outstanding(self, pending: int) -> int:
        return self.finished + pending + len(self.running) + len(self.chained) + len(self.ready)

    def _fill(self, pending: int) -> None:
        """Start trials on free slots: asked-ahead ones first, then new ones."""
        if self.stopping:
            return
        with self.lock:  # no job thread takes from ``ready`` meanwhile
            self._merge_chained()
            while len(self.running) < self._capacity():
                if self.ready:
                    self._submit(self.ready.popleft())
                elif self._outstanding(pending) < self.s.trials:
                    self._submit(self._new_trial())
                else:
                    break

    def _prefetch(self) -> None:
        """Ask Optuna for the next trials while the slots are busy (up to one per slot), so
        that freed slots get them without waiting for the sampler and the storage. Stops as
        soon as a running trial ends: refilling its slot comes first."""
        while True:
            with self.lock:  # counts are exact: no job thread is moving a trial meanwhile
                if (
                    self.stopping
                    or self.s.queue_ahead  # the queued jobs are the trials asked ahead
                    or len(self.ready) >= self.s.parallelism
                    or len(self.running) + len(self.chained) < self.s.parallelism
                    or self._outstanding(0) >= self.s.trials
                    or any(f.done() for f in self.running)
                ):
                    return
                self.ready.append(self._new_trial())

    def _stop_all(self, reason: str) -> None:
        with self.lock:  # no job thread starts a trial after this
            self.stopping = True
            self._merge_chained()
        self.on_event(f"{reason}: cancelling running trials")
        for run in self.running.values():
            self._cancel(run, reason)

    def _complete(self, fut: Future[TrialOutcome], run: TrialRun) -> None:
        """Tell Optuna how the attempt of ``fut`` ended, or retry it."""
        import optuna

        FAIL = optuna.trial.TrialState.FAIL
        exc = fut.exception()
        if exc is None:
            self._finish(run, fut.result())
            return
        if run.cancel_reason is not None:
            interrupted = "timed out" not in run.cancel_reason
            self._tell(run, None, FAIL, error=run.cancel_reason, interrupted=interrupted)
            return
        reason = spark_failure(exc)
        if run.attempt <= self.s.max_retries and not self.stopping:
            self.on_event(
                f"trial {run.trial.number}: {reason}; retrying "
                f"(attempt {run.attempt + 1} of {self.s.max_retries + 1})"
            )
            run.move(Phase.ENDED)
            self._submit(run.retry())
            return
        self._tell(
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
