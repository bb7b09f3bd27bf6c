"""Telling Optuna: the curve points a trial reports while it runs, and how each trial ended
(its record, its state, the study's best value), and when a study's first trials all fail
alike, giving up (``--max-failures``)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sparktf.execution.runner import Outcome, TrialOutcome
from sparktf.execution.trial_run import Phase, Registry, TrialRun
from sparktf.search import record
from sparktf.search.moasha import OptunaPruning
from sparktf.search.study import is_better

if TYPE_CHECKING:
    import optuna

    from sparktf.execution.settings import DispatchSettings

log = logging.getLogger("sparktf.dispatch")


class Teller:
    """Tells the study what its trials did. Every Optuna call goes through ``registry.lock``.

    Args:
        study: the Optuna study.
        settings: the dispatcher's settings.
        registry: the trials in flight (a trial told is removed).
        on_finished: called after each trial is told.
        on_event: called with a short text for the progress display.
        give_up: called with the reason when ``--max-failures`` stops the study.
    """

    def __init__(
        self,
        study: optuna.Study,
        settings: DispatchSettings,
        registry: Registry,
        on_finished: Callable[[optuna.Trial, TrialOutcome | None], None],
        on_event: Callable[[str], None],
        give_up: Callable[[str], None],
    ) -> None:
        self.study = study
        self.s = settings
        self.registry = registry
        self.lock = registry.lock
        self.pruning = settings.pruning or OptunaPruning()
        self.on_finished = on_finished
        self.on_event = on_event
        self.give_up = give_up
        self.best_value: float | None = None
        self.finished = 0  # trials told that count towards the target
        # this run's failed trials' errors (None once a trial got through)
        self.failures: list[str] | None = []
        self.gave_up: str | None = None  # why the study stopped early (--max-failures)

    def finished_count(self) -> int:
        """Trials of the study that count towards the target (interrupted ones do not)."""
        import optuna

        done = (
            optuna.trial.TrialState.COMPLETE,
            optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL,
        )
        with self.lock:
            trials = self.study.get_trials(deepcopy=False, states=done)
        return sum(1 for t in trials if record.is_counted(t))

    # -- while trials run (the report channel's threads) ------------------------------------

    def report(self, number: int, step: int, value: float) -> bool:
        """A curve point of trial ``number``; True when the trial should stop (pruned)."""
        with self.lock:
            run = self.registry.get(number)
            if run is None or not math.isfinite(value):
                return False
            if step not in run.reported:
                self.pruning.report(run.trial, step, value)
                run.reported.add(step)
            return self.pruning.should_prune(run.trial, step)

    def measures(self, number: int, measures: dict[str, float]) -> None:
        """A trial's measures known before training (MO-ASHA ranks its rungs on them)."""
        with self.lock:
            run = self.registry.get(number)
            if run is not None:
                run.trial.set_user_attr(record.KNOWN, measures)

    # -- when a trial ends (the dispatch loop) ----------------------------------------------

    def finish(self, run: TrialRun, outcome: TrialOutcome) -> None:
        """Tell Optuna the outcome that ``run``'s executor sent back."""
        import optuna

        for w in outcome.warnings:
            self.on_event(w)
        missing = self.s.goals.missing(outcome.metrics) if self.s.goals else None
        if outcome.state is Outcome.COMPLETE and missing:
            self.tell(run, outcome, optuna.trial.TrialState.FAIL, error=missing)
        elif outcome.state is Outcome.COMPLETE:
            assert outcome.value is not None
            if is_better(outcome.value, self.best_value, self.s.direction):
                self.best_value = outcome.value
            self.tell(run, outcome, optuna.trial.TrialState.COMPLETE)
        elif outcome.state is Outcome.PRUNED:
            self.tell(run, outcome, optuna.trial.TrialState.PRUNED)
        else:
            self.tell(run, outcome, optuna.trial.TrialState.FAIL, error=outcome.error)

    def tell(
        self,
        run: TrialRun,
        outcome: TrialOutcome | None,
        state: Any,
        error: str | None = None,
        interrupted: bool = False,
    ) -> None:
        """Record how ``run`` ended and tell Optuna (``outcome`` None: no answer came back)."""
        import optuna

        trial = run.trial
        started = run.started is not None and run.phase is not Phase.ASKED
        run.move(Phase.ENDED)
        with self.lock:
            if outcome is not None:
                self._report_curve(run, outcome)
            for key, value in self._record(run, outcome, error, interrupted, started).items():
                trial.set_user_attr(key, value)
            if state == optuna.trial.TrialState.COMPLETE:
                assert outcome is not None and outcome.value is not None
                if self.s.goals is not None:
                    self.s.goals.tell(self.study, trial, outcome.metrics)
                else:
                    self.study.tell(trial, outcome.value)
            else:
                self.study.tell(trial, state=state)
            self.registry.remove(run)
            if not interrupted:
                self.finished += 1
        if outcome is None and not interrupted:  # timed out or kept crashing: it is over
            self._clear_checkpoints(run)
        self.on_finished(trial, outcome)
        if not interrupted:
            self._count_failure(error if state == optuna.trial.TrialState.FAIL else None)

    def _record(
        self,
        run: TrialRun,
        outcome: TrialOutcome | None,
        error: str | None,
        interrupted: bool,
        started: bool,
    ) -> dict[str, Any]:
        if outcome is not None:
            return record.encode(
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
        return record.encode(
            attempts=run.attempt,
            run_start=run.started if started else None,
            run_end=time.time() if started else None,
            error=error,
            interrupted=interrupted,
            not_started=not started,
        )

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
            self.give_up(f"{self.gave_up} (--max-failures {n})")

    def _report_curve(self, run: TrialRun, outcome: TrialOutcome) -> None:
        """Tell Optuna the curve points the channel did not bring (e.g. no channel)."""
        for step, value in sorted(outcome.curve.items()):
            if step not in run.reported and math.isfinite(value):
                self.pruning.report(run.trial, step, value)
                run.reported.add(step)
