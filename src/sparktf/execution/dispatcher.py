"""Driver side: ask Optuna for trials, run each as one Spark task, tell Optuna how it ended.

Dispatch is event-driven: ``concurrent.futures.wait(FIRST_COMPLETED)`` wakes the loop the moment
a trial's Spark job returns, and the freed slot gets its next trial at once. Each attempt is its
own Spark job group, so one trial can be cancelled (timeout, Ctrl-C) without touching the others.

When the study may use every task slot of the cluster (``--parallelism`` at least the slots, no
dynamic allocation), the next trials are submitted *ahead*: their Spark jobs wait in Spark's own
FIFO queue, so a slot that frees starts the next trial inside the JVM, with no round trip through
the driver's Python and with the job's submission work done while the slots were busy. Spark's
slots cap how many of them run at once; the oldest jobs hold the slots, the others wait, and a
trial's ``--trial-timeout`` counts from when it took a slot, not from its submission.
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
from typing import TYPE_CHECKING, Any

from sparktf.execution.channel import ChannelServer
from sparktf.execution.runner import (
    TASK_PROPERTY,
    Objective,
    Outcome,
    TrialOutcome,
    TrialTask,
    encode_task,
    partition_runner,
)
from sparktf.search import record
from sparktf.search.study import is_better

if TYPE_CHECKING:
    import optuna
    from pyspark.sql import SparkSession

log = logging.getLogger("sparktf.dispatch")


@dataclass
class _Running:
    trial: optuna.Trial
    params: dict[str, Any]
    attempt: int
    group: str
    started: float | None  # when it took its slot (None: never did)
    deadline: float | None
    cancel_reason: str | None = None
    reported: set[int] = field(default_factory=set)
    waiting: bool = False  # submitted ahead, queued in Spark behind the jobs holding the slots


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


class Dispatcher:
    """Runs a study's trials on Spark until ``settings.trials`` of them have finished.

    Args:
        spark: the session.
        study: the Optuna study (storage already opened).
        suggest: turns a fresh ``optuna.Trial`` into a parameter dict.
        objective: what each trial runs.
        data: the data to broadcast once (None for none).
        settings: counts, metric, timeouts.
        on_finished: called on the driver after each trial is told to Optuna.
        on_event: called with a short text for the progress display (retries, warnings).
        on_started: called on the driver after each new trial got its parameters.
        on_slots: called by the dispatch loop whenever the trials holding a slot may have
            changed (before it waits), e.g. to refresh a display of ``active()``.
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
    ) -> None:
        self.spark = spark
        self.sc = spark.sparkContext
        self.study = study
        self.suggest = suggest
        self.objective = objective
        self.data = data
        self.s = settings
        self.on_finished = on_finished
        self.on_event = on_event
        self.on_started = on_started
        self.on_slots = on_slots
        self.lock = threading.RLock()  # every Optuna call goes through it
        self.running: dict[Future[TrialOutcome], _Running] = {}
        self.by_number: dict[int, _Running] = {}
        self.best_value: float | None = None
        self.stopping = False
        self.refused_reports = 0
        self.finished = 0  # trials told to Optuna that count towards the target
        self.ready: deque[_Running] = deque()  # trials asked ahead of a free slot
        # started by a job thread on the slot its trial just freed; merged into ``running``
        # by the dispatch loop (the only thread that reads or changes ``running``)
        self.chained: deque[tuple[Future[TrialOutcome], _Running]] = deque()
        self._start: Callable[[_Running], Future[TrialOutcome]] | None = None
        self._submitting: list[threading.Event] = []  # queue-ahead: jobs not yet in Spark's queue

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
        return sum(1 for t in trials if not record.is_interrupted(t))

    # -- channel -----------------------------------------------------------------------------

    def _on_report(self, number: int, step: int, value: float) -> bool:
        with self.lock:
            run = self.by_number.get(number)
            if run is None or not math.isfinite(value):
                return False
            if step not in run.reported:
                run.trial.report(value, step)
                run.reported.add(step)
            return bool(run.trial.should_prune())

    # -- one attempt -------------------------------------------------------------------------

    def _run_job(
        self,
        task: TrialTask,
        group: str,
        rdd: Any,
        order: tuple[list[threading.Event], threading.Event] | None = None,
    ) -> TrialOutcome:
        """Run one attempt as a Spark job and return its outcome. With ``order`` (queue-ahead
        mode: wait for these jobs to be submitted; tell when this one is), the job is
        submitted only after the earlier trials' jobs were: Spark's FIFO scheduler gives a
        freed slot to the oldest job, so queued trials start in the order they were asked
        (and ``_take_slots`` knows which ones hold the slots)."""
        job = None
        try:
            self.sc.setJobGroup(
                group, f"sparktf trial {task.number} attempt {task.attempt}", interruptOnCancel=True
            )
            self.sc.setLocalProperty(TASK_PROPERTY, encode_task(task))
            if order is not None:
                give_up = time.monotonic() + 30
                for event in order[0]:
                    event.wait(timeout=max(0.0, give_up - time.monotonic()))
            if self.stopping:  # its group may have been cancelled before this job existed
                raise RuntimeError(f"trial {task.number}: cancelled before its Spark job started")
            if order is None:
                out = rdd.collect()
            else:  # returns as soon as the job has its place in Spark's queue
                job = rdd._jrdd.collectAsync()
        finally:
            if order is not None:
                order[1].set()
        if job is not None:
            out = self._fetch(task, rdd, job)
        if len(out) != 1:
            raise RuntimeError(f"trial {task.number}: expected 1 outcome, got {len(out)}")
        result: TrialOutcome = out[0]
        self._chain()
        return result

    def _fetch(self, task: TrialTask, rdd: Any, job: Any) -> list[Any]:
        """The result of a job submitted with ``collectAsync``, once it ends: through a local
        socket, the way ``rdd.collect()`` brings it (Py4J would copy a model of tens of MB
        slowly)."""
        from pyspark.util import _load_from_socket

        jvm = self.sc._jvm
        assert jvm is not None
        items = jvm.scala.jdk.javaapi.CollectionConverters.asScala(job.get().iterator())
        sock_info = jvm.org.apache.spark.api.python.PythonRDD.serveIterator(
            items, f"sparktf trial {task.number}"
        )
        with _load_from_socket(sock_info, rdd._jrdd_deserializer) as stream:
            return list(stream)

    def _chain(self) -> None:
        """Start the next asked-ahead trial on the slot this thread's trial has just freed,
        without waiting for the dispatch loop, which may be busy telling Optuna and writing
        outputs for other trials."""
        with self.lock:
            if self.stopping or not self.ready or self._start is None or self.s.queue_ahead:
                return
            run = self.ready.popleft()
            try:
                self.chained.append((self._start(run), run))
            except Exception as exc:  # the dispatch loop starts it instead
                log.debug("could not chain trial %s: %s", run.trial.number, exc)
                self.ready.appendleft(run)

    def _merge_chained(self) -> None:
        with self.lock:
            while self.chained:
                fut, run = self.chained.popleft()
                self.running[fut] = run

    def _submit(self, pool: ThreadPoolExecutor, run: _Running, rdd: Any, channel: Any) -> None:
        fut = self._start_job(pool, run, rdd, channel)
        self.running[fut] = run

    def _start_job(
        self, pool: ThreadPoolExecutor, run: _Running, rdd: Any, channel: Any
    ) -> Future[TrialOutcome]:
        task = TrialTask(
            number=run.trial.number,
            params=run.params,
            attempt=run.attempt,
            metric=self.s.metric,
            direction=self.s.direction,
            monitor=self.s.monitor,
            channel=channel,
            best_value=self.best_value,
            val_fraction=self.s.val_fraction,
        )
        self._start_clock(run, time.time())
        run.waiting = self.s.queue_ahead > 0  # until ``_take_slots`` sees it hold a slot
        if run.waiting:
            run.deadline = None
        self.by_number[run.trial.number] = run
        if not self.s.queue_ahead:
            return pool.submit(self._run_job, task, run.group, rdd)
        # Fewer jobs than slots: this one gets a slot whatever its place. Else it queues, so
        # it waits until every earlier job has its place in Spark's queue.
        self._submitting = [e for e in self._submitting if not e.is_set()]
        after = list(self._submitting) if len(self.running) >= self.s.queue_ahead else []
        submitted = threading.Event()
        self._submitting.append(submitted)
        return pool.submit(self._run_job, task, run.group, rdd, (after, submitted))

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
            if run.waiting:
                run.waiting = False
                self._start_clock(run, now)

    def _start_clock(self, run: _Running, now: float) -> None:
        """The trial runs from ``now``: its ``--trial-timeout`` counts from here."""
        run.started = now
        run.deadline = now + self.s.trial_timeout if self.s.trial_timeout else None

    def active(self) -> int:
        """Trials holding a Spark slot now (not those queued ahead)."""
        return sum(1 for run in list(self.running.values()) if not run.waiting)

    def _new_trial(self) -> _Running:
        with self.lock:
            trial = self.study.ask()
            params = self.suggest(trial)
            if self.on_started is not None:
                self.on_started(trial)
        return _Running(trial, params, 1, f"sparktf-{trial.number}-1", time.time(), None)

    # -- finishing ---------------------------------------------------------------------------

    def _tell(
        self,
        run: _Running,
        outcome: TrialOutcome | None,
        state: Any,
        error: str | None = None,
        interrupted: bool = False,
    ) -> None:
        import optuna

        trial = run.trial
        with self.lock:
            if outcome is not None:
                for step, value in sorted(outcome.curve.items()):
                    if step not in run.reported and math.isfinite(value):
                        trial.report(value, step)
                        run.reported.add(step)
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
                )
            else:
                started = not run.waiting and run.started is not None
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
                self.study.tell(trial, outcome.value)
            else:
                self.study.tell(trial, state=state)
            self.by_number.pop(trial.number, None)
            if not interrupted:
                self.finished += 1
        self.on_finished(trial, outcome)

    def _finish(self, run: _Running, outcome: TrialOutcome) -> None:
        import optuna

        for w in outcome.warnings:
            self.on_event(w)
        if outcome.state is Outcome.COMPLETE:
            assert outcome.value is not None
            if is_better(outcome.value, self.best_value, self.s.direction):
                self.best_value = outcome.value
            self._tell(run, outcome, optuna.trial.TrialState.COMPLETE)
        elif outcome.state is Outcome.PRUNED:
            self._tell(run, outcome, optuna.trial.TrialState.PRUNED)
        else:
            self._tell(run, outcome, optuna.trial.TrialState.FAIL, error=outcome.error)

    def _cancel_again(self, runs: Iterable[_Running]) -> None:
        """Cancel these trials' job groups once more: a job that its thread submitted just as
        its group was cancelled escaped that cancel."""
        for run in runs:
            self.sc.cancelJobGroup(run.group)

    def _cancel(self, run: _Running, reason: str) -> None:
        if run.cancel_reason is None:
            run.cancel_reason = reason
            self.sc.cancelJobGroup(run.group)

    # -- main loop ---------------------------------------------------------------------------

    def run(self) -> None:
        """Run trials until the target count is reached, the study times out, or Ctrl-C.

        Raises:
            KeyboardInterrupt: after cancelling the running trials and recording them.
        """
        import optuna

        FAIL = optuna.trial.TrialState.FAIL
        data_bc = self.sc.broadcast(self.data) if self.data is not None else None
        # One RDD for the whole study: each trial's job runs it with the trial as a local
        # property, so the runner is pickled and its Java RDD built once, not once per trial.
        rdd = self.sc.parallelize([0], 1).mapPartitions(partition_runner(self.objective, data_bc))
        _ = rdd._jrdd  # built here, before the trial threads share it
        host = self.spark.conf.get("spark.driver.host", "127.0.0.1") or "127.0.0.1"
        study_deadline = time.time() + self.s.timeout if self.s.timeout else None
        self.finished = self.finished_count()
        with (
            ChannelServer(
                self._on_report, host=host, advertise=self.s.channel_advertise
            ) as channel,
            ThreadPoolExecutor(
                max_workers=self._capacity() + self.s.parallelism,  # room for retries
                thread_name_prefix="sparktf-trial",
            ) as pool,
        ):
            address = channel.address if self.s.channel else None
            self._start = lambda run: self._start_job(pool, run, rdd, address)
            try:
                while True:
                    if study_deadline and time.time() >= study_deadline and not self.stopping:
                        self._stop_all("the study's --timeout was reached")
                    self._fill(pool, rdd, address, pending=0)
                    if not self.running:
                        break
                    self._prefetch()
                    self._take_slots()
                    if self.on_slots is not None:
                        self.on_slots()
                    deadlines = [r.deadline for r in self.running.values() if r.deadline]
                    if study_deadline and not self.stopping:
                        deadlines.append(study_deadline)
                    if self.stopping:
                        deadlines.append(time.time() + 1.0)
                        self._cancel_again(self.running.values())
                    timeout = max(0.0, min(deadlines) - time.time()) if deadlines else None
                    done, _ = wait(list(self.running), timeout=timeout, return_when=FIRST_COMPLETED)
                    self._merge_chained()
                    now = time.time()
                    for fut, run in list(self.running.items()):
                        if fut not in done and run.deadline and now >= run.deadline:
                            self._cancel(
                                run, f"timed out after {self.s.trial_timeout:g}s (--trial-timeout)"
                            )
                    ended = [(fut, self.running.pop(fut)) for fut in done]
                    self._take_slots()
                    if self.s.queue_ahead:
                        # the freed slots already run the queued trials: tell Optuna first, so
                        # that the trials asked next know how these ended
                        for fut, run in ended:
                            self._complete(pool, fut, run, rdd, address, FAIL)
                        continue
                    # the freed slots get their next trials before any bookkeeping
                    self._fill(pool, rdd, address, pending=len(ended))
                    for fut, run in ended:
                        self._complete(pool, fut, run, rdd, address, FAIL)
            except KeyboardInterrupt:
                self._stop_all("interrupted by the user (Ctrl-C)")
                give_up = time.time() + 60
                while self.running and time.time() < give_up:
                    _, left = wait(list(self.running), timeout=1.0)
                    if not left:
                        break
                    self._cancel_again(self.running[fut] for fut in left)
                self._merge_chained()
                for fut, run in list(self.running.items()):
                    self.running.pop(fut)
                    self._tell(run, None, FAIL, error=run.cancel_reason, interrupted=True)
                raise
            finally:
                self._start = None
                for run in self.ready:  # asked ahead but never started
                    run.started = None
                    self._tell(
                        run,
                        None,
                        FAIL,
                        error="not started: the study stopped first",
                        interrupted=True,
                    )
                self.ready.clear()
                self.refused_reports = channel.refused
                if data_bc is not None:
                    data_bc.unpersist()

    def _outstanding(self, pending: int) -> int:
        return self.finished + pending + len(self.running) + len(self.chained) + len(self.ready)

    def _fill(self, pool: ThreadPoolExecutor, rdd: Any, address: Any, pending: int) -> None:
        """Start trials on free slots: asked-ahead ones first, then new ones."""
        if self.stopping:
            return
        with self.lock:  # no job thread takes from ``ready`` meanwhile
            self._merge_chained()
            while len(self.running) < self._capacity():
                if self.ready:
                    self._submit(pool, self.ready.popleft(), rdd, address)
                elif self._outstanding(pending) < self.s.trials:
                    self._submit(pool, self._new_trial(), rdd, address)
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

    def _complete(
        self,
        pool: ThreadPoolExecutor,
        fut: Future[TrialOutcome],
        run: _Running,
        rdd: Any,
        address: Any,
        FAIL: Any,
    ) -> None:
        exc = fut.exception()
        if exc is None:
            self._finish(run, fut.result())
            return
        if run.cancel_reason is not None:
            interrupted = "timed out" not in run.cancel_reason
            self._tell(run, None, FAIL, error=run.cancel_reason, interrupted=interrupted)
            return
        reason = _spark_failure(exc)
        if run.attempt <= self.s.max_retries and not self.stopping:
            self.on_event(
                f"trial {run.trial.number}: {reason}; retrying "
                f"(attempt {run.attempt + 1} of {self.s.max_retries + 1})"
            )
            retry = _Running(
                run.trial,
                run.params,
                run.attempt + 1,
                f"sparktf-{run.trial.number}-{run.attempt + 1}",
                time.time(),
                None,
                reported=run.reported,
            )
            self._submit(pool, retry, rdd, address)
            return
        self._tell(
            run,
            None,
            FAIL,
            error=f"{reason} (after {run.attempt} attempt(s))\n{_first_lines(str(exc), 30)}",
        )


def _first_lines(text: str, n: int) -> str:
    return "\n".join(text.splitlines()[:n])


def _spark_failure(exc: BaseException) -> str:
    text = str(exc)
    if "exited unexpectedly" in text or "crashed" in text or "EOFError" in text:
        return "the Python worker crashed"
    if "ExecutorLostFailure" in text or "executor lost" in text.lower():
        return "the executor was lost"
    if "cancelled" in text.lower():
        return "the Spark job was cancelled"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"the Spark task failed: {first[:300]}"
