"""The study's MLflow observer (``--mlflow``): one parent run per study, one nested child run
per trial.

Everything is logged from the driver by a :class:`~sparktf.tracking.background.BackgroundLog`:
the dispatcher only hands over a snapshot of each finished trial. The parent run's id is kept
in the run directory (``mlflow.json``), so that ``--resume`` continues the same run; children
carry their trial number (tag ``sparktf.trial``), and a trial whose child run is complete is
never logged again. What cannot be logged is reported once, when the study ends.

What goes where:

- parent run: the settings that define the study as params (sampler, pruner, metric, ...;
  the search space as ``space.NAME``), the settings ``--resume`` may change and the library
  versions as tags (``sparktf.config.*``, ``sparktf.version.*``); at the end the metric
  ``best_value`` (and ``best_METRIC`` for the best trial's metrics), tags ``sparktf.best_trial``
  and ``sparktf.best.PARAM``, artifacts ``config.json`` (when the run opens), ``report.html``,
  ``figures/*.png``, ``trials.csv``, ``best/*.json`` and the best model (``model``, Keras
  flavour).
- child run ``trial-N``, created RUNNING with the trial's params when the study asks for the
  trial: then its per-epoch curve with ``step`` = epoch; its final metrics and ``duration_s``
  (the time it held its slot); tags ``sparktf.trial``, ``sparktf.state``, ``sparktf.worker``
  (host:pid), ``sparktf.attempts``, ``sparktf.resumed_from_epoch`` (a trial continued from its
  checkpoint); status FINISHED, KILLED (pruned, interrupted, or never started) or FAILED with
  ``error.txt``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import fields
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sparktf.fileio import write_json
from sparktf.search import record
from sparktf.search.optuna_compat import frozen_copy
from sparktf.search.record import TrialStatus
from sparktf.tracking.background import BackgroundLog, Gap
from sparktf.tracking.mlflow_lib import import_mlflow
from sparktf.tracking.model import LoggedModel, log_best_model
from sparktf.tuning.config import TuneConfig, versions

if TYPE_CHECKING:
    import optuna

    from sparktf.tuning.outputs import TuneResult

Say = Callable[[str], None]

PARENT_TAG = "mlflow.parentRunId"
TRIAL_TAG = "sparktf.trial"
STATE_TAG = "sparktf.state"
MODEL_TRIAL_TAG = "sparktf.model_trial"  # the trial whose model the parent run holds
ERROR_ARTIFACT = "error.txt"
FRONT_ARTIFACT = "pareto_front.json"  # several objectives: the front, as an MLflow table
CLOSE_TIMEOUT_S = 120.0  # at most this long at the end of a study for what is still queued
_BATCH = 100  # MLflow's limit of params (and tags) in one log_batch call
# a trial's MLflow run status; trials that never ran get no run
RUN_STATUS = {
    TrialStatus.COMPLETE: "FINISHED",
    TrialStatus.PRUNED: "KILLED",
    TrialStatus.FAILED: "FAILED",
    TrialStatus.INTERRUPTED: "KILLED",
    TrialStatus.NOT_STARTED: "KILLED",  # its run exists when it was asked, else none is made
}


class NoParentRun(RuntimeError):
    """The study's parent run could not be opened: nothing can be logged under it."""


class NoTracking:
    """Tracking off: every hook does nothing."""

    def __enter__(self) -> NoTracking:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def trial_started(self, trial: optuna.Trial) -> None:
        """Nothing to log."""

    def trial_finished(self, trial: optuna.Trial) -> None:
        """Nothing to log."""

    def study_finished(self, res: TuneResult) -> None:
        """Nothing to log."""


def track_study(cfg: TuneConfig, study: optuna.Study, say: Say, tell: Say) -> Any:
    """The study's tracker: an :class:`MlflowTracker` under ``--mlflow``, else
    :class:`NoTracking`. Use it as a context manager around the study."""
    return MlflowTracker(cfg, study, say, tell) if cfg.mlflow else NoTracking()


class MlflowTracker:
    """Logs a study to MLflow in the background (see the module docstring).

    Args:
        cfg: the study's configuration (``mlflow_tracking_uri``, ``mlflow_experiment``,
            ``register_model``).
        study: the study the dispatcher works on; its trials that already finished (a
            resumed study) are logged first, those with a complete child run skipped.
        say: prints sparktf's informational lines.
        tell: prints what the user must see even under --quiet (what could not be logged).
    """

    def __init__(self, cfg: TuneConfig, study: optuna.Study, say: Say, tell: Say) -> None:
        self.cfg, self.study, self.say, self.tell = cfg, study, say, tell
        self.run_dir = cfg.run_dir
        self.client: Any = None
        self.uri = cfg.mlflow_tracking_uri or "MLflow's default tracking URI"
        self.experiment_id = ""
        self.parent: str | None = None
        self.described = False
        self.children: dict[int, str] = {}  # trial number -> child run id
        self.done: set[int] = set()  # trials whose child run is complete
        self.model_trial: int | None = None
        self.model: LoggedModel | None = None
        self.notes: list[str] = []
        self.log = BackgroundLog("sparktf-mlflow")
        self.log.post("the study's run", self._open)
        for t in study.get_trials(deepcopy=False):
            if t.state.is_finished():
                self._post(t)

    # -- hooks (driver threads; they only queue) ----------------------------------------------

    def __enter__(self) -> MlflowTracker:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        status = "FINISHED" if kind is None else "KILLED"
        if kind is not None and not issubclass(kind, KeyboardInterrupt):
            status = "FAILED"
        self.close(status)

    def trial_started(self, trial: optuna.Trial) -> None:
        """Queue the child run of a trial that was just asked: it is RUNNING until the trial
        ends (and at the study's end, only the final logging of each trial is left)."""
        frozen = frozen_copy(self.study, trial)
        self.log.post(f"trial {frozen.number}", partial(self._open_trial, frozen))

    def trial_finished(self, trial: optuna.Trial) -> None:
        """Queue a trial that was just told to Optuna."""
        self._post(frozen_copy(self.study, trial))

    def study_finished(self, res: TuneResult) -> None:
        """Queue the study's results: best value and params, artifacts, the best model."""
        best = res.best_trial  # several objectives: the front member --select chose
        self.log.post("the study's results", partial(self._log_results, res, best))
        if res.best_model_path is not None and best is not None:
            self.log.post("the best model", partial(self._log_model, best, res.best_value))

    def close(self, status: str) -> None:
        """End the parent run with ``status``, wait for the queue (at most
        ``CLOSE_TIMEOUT_S``) and report what could not be logged, once."""
        self.log.post("the study's run status", partial(self._end, status))
        gap = self.log.close(CLOSE_TIMEOUT_S)
        for note in self.notes:
            self.say(f"mlflow: {note}")
        if gap is not None:
            self.tell(self._gap_line(gap))
        elif self.parent is not None:
            self.say(self._done_line())

    def _post(self, frozen: optuna.trial.FrozenTrial) -> None:
        self.log.post(f"trial {frozen.number}", partial(self._log_trial, frozen))

    # -- lines --------------------------------------------------------------------------------

    def _done_line(self) -> str:
        line = (
            f"mlflow: run {self.parent} (experiment {self.cfg.mlflow_experiment!r}, "
            f"{len(self.done)} trial runs) at {self.uri}"
        )
        if self.model is not None:
            line += f"; model {self.model.uri}"
            if self.model.version is not None:
                line += f", registered as models:/{self.cfg.register_model}/{self.model.version}"
        return line

    def _gap_line(self, gap: Gap) -> str:
        trials = sorted({int(w.split()[1]) for w in gap.items if w.startswith("trial ")})
        others = [w for w in gap.items if not w.startswith("trial ")]
        parts = [f"{len(trials)} trial run(s) ({_numbers(trials)})"] if trials else []
        path = self.run_dir.path
        return (
            f"warning: MLflow: could not log {', '.join(parts + others)} to {self.uri}: "
            f"{gap.error or 'no answer in time'}. The run directory {path} has everything; "
            f"'sparktf tune --resume {path} --mlflow' logs what is missing"
        )

    # -- the background thread ----------------------------------------------------------------

    def _open(self) -> None:
        """Connect; continue the run directory's parent run, else start one."""
        if self.client is None:
            import_mlflow()
            from mlflow import MlflowClient

            self.client = MlflowClient(self.cfg.mlflow_tracking_uri)
            self.uri = str(self.client.tracking_uri)
        if self.parent is None:
            self.parent = self._reopen() or self._create_parent()
        if not self.described:
            self._describe()
            self.described = True
        self.client.log_artifact(self.parent, str(self.run_dir.config))  # as this run has it

    def _saved(self) -> dict[str, Any]:
        p = self.run_dir.mlflow_run
        try:
            data = json.loads(p.read_text()) if p.is_file() else {}
        except (OSError, json.JSONDecodeError):
            data = {}
        return data if isinstance(data, dict) else {}

    def _reopen(self) -> str | None:
        """The saved parent run, set running again with its children known; None when there
        is none (a new study, or a run not on this server)."""
        from mlflow.exceptions import MlflowException

        run_id = self._saved().get("run_id")
        if not run_id:
            return None
        try:
            run = self.client.get_run(run_id)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            run = None
        if run is None or run.info.lifecycle_stage == "deleted":
            self.notes.append(f"the study's run {run_id} is not at {self.uri}; starting a new one")
            return None
        self.experiment_id = run.info.experiment_id
        self.model_trial = record.as_int(run.data.tags.get(MODEL_TRIAL_TAG))
        self.client.update_run(run_id, status="RUNNING")
        self._find_children(run_id)
        self.described = True  # its params were logged when it started
        self._log_batch(run_id, tags=_config_tags(self.cfg))  # what --resume changed
        return str(run_id)

    def _find_children(self, parent: str) -> None:
        token = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.`{PARENT_TAG}` = '{parent}'",
                max_results=1000,
                page_token=token,
            )
            for run in page:
                number = record.as_int(run.data.tags.get(TRIAL_TAG))
                if number is not None:
                    self.children[number] = run.info.run_id
                    if run.info.status != "RUNNING":
                        self.done.add(number)
            token = page.token
            if not token:
                return

    def _create_parent(self) -> str:
        self.experiment_id = self._experiment()
        path = self.run_dir.path
        run = self.client.create_run(
            self.experiment_id,
            run_name=path.name,
            tags={"sparktf.run_dir": str(path.resolve()), "sparktf.study": self.cfg.study_name},
        )
        run_id = str(run.info.run_id)
        saved = {"tracking_uri": self.uri, "experiment_id": self.experiment_id, "run_id": run_id}
        write_json(self.run_dir.mlflow_run, saved)
        return run_id

    def _experiment(self) -> str:
        from mlflow.exceptions import MlflowException

        name = self.cfg.mlflow_experiment
        exp = self.client.get_experiment_by_name(name)
        if exp is None:
            try:
                return str(self.client.create_experiment(name))
            except MlflowException as exc:  # created meanwhile by another study
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                exp = self.client.get_experiment_by_name(name)
        if exp.lifecycle_stage == "deleted":
            raise ValueError(
                f"the MLflow experiment {name!r} is deleted: restore it, or choose another "
                "with --mlflow-experiment"
            )
        return str(exp.experiment_id)

    def _describe(self) -> None:
        params, tags = _config_params(self.cfg), _config_tags(self.cfg)
        tags.update({f"sparktf.version.{k}": v for k, v in versions().items()})
        self._log_batch(self._parent(), params=params, tags=tags)

    def _parent(self) -> str:
        if self.parent is None:
            raise NoParentRun("the study's MLflow run could not be opened")
        return self.parent

    def _child(self, number: int, start: float | None) -> str:
        """The child run of trial ``number``, created when it has none."""
        run_id = self.children.get(number)
        if run_id is None:
            run = self.client.create_run(
                self.experiment_id,
                start_time=_ms(start),
                run_name=f"trial-{number}",
                tags={PARENT_TAG: self._parent(), TRIAL_TAG: str(number)},
            )
            run_id = self.children[number] = str(run.info.run_id)
        return run_id

    def _open_trial(self, frozen: optuna.trial.FrozenTrial) -> None:
        rec = record.decode(frozen)
        if rec.number not in self.children and rec.number not in self.done:
            asked = frozen.datetime_start  # when the study asked for it (this logging is later)
            run_id = self._child(rec.number, asked.timestamp() if asked else time.time())
            params = {k: str(v) for k, v in rec.params.items()}
            self._log_batch(run_id, params=params, tags={STATE_TAG: rec.state})

    def _log_trial(self, frozen: optuna.trial.FrozenTrial) -> None:
        rec = record.decode(frozen)
        status = RUN_STATUS.get(TrialStatus(rec.state))
        if status is None or rec.number in self.done:
            return
        if rec.state == TrialStatus.NOT_STARTED and rec.number not in self.children:
            return  # never ran, and has no run
        run_id = self._child(rec.number, rec.run_start)
        self._log_batch(
            run_id,
            metrics=_trial_metrics(rec, self._curve_name(), self.cfg.metric),
            params={k: str(v) for k, v in rec.params.items()},
            tags=_trial_tags(rec),
        )
        if rec.error:
            self.client.log_text(run_id, rec.error, ERROR_ARTIFACT)
        self.client.set_terminated(run_id, status, end_time=_ms(rec.run_end))
        self.done.add(rec.number)

    def _curve_name(self) -> str:
        """What a trial reports each epoch: the monitored Keras metric, or an objective's
        own metric."""
        return self.cfg.metric if self.cfg.objective_kind == "function" else self.cfg.monitor

    def _log_results(self, res: TuneResult, best: int | None) -> None:
        parent = self._parent()
        if res.best_value is not None:
            now = int(time.time() * 1000)
            finished = len(res.trials)
            metrics = [("best_value", res.best_value, now, finished)]
            metrics += [(f"best_{k}", v, now, finished) for k, v in res.best_metrics.items()]
            tags = {f"sparktf.best.{k}": str(v) for k, v in (res.best_params or {}).items()}
            tags["sparktf.best_trial"] = str(best)
            self._log_batch(parent, metrics=metrics, tags=tags)
        for path, where in self._artifacts():
            self.client.log_artifact(parent, str(path), where)
        if len(res.front):  # several objectives: the Pareto front as a table
            front = res.front.dropna(axis=1, how="all")
            self.client.log_table(parent, data=front, artifact_file=FRONT_ARTIFACT)

    def _artifacts(self) -> Iterable[tuple[Any, str | None]]:
        from sparktf.report import REPORT_HTML

        run = self.run_dir
        for path in (run.path / REPORT_HTML, run.trials_csv):
            if path.is_file():
                yield path, None
        for png in sorted(run.path.glob("*.png")):
            yield png, "figures"
        for name in ("params.json", "metrics.json"):
            if (run.best / name).is_file():
                yield run.best / name, "best"

    def _log_model(self, trial: int, value: float | None) -> None:
        parent = self._parent()
        if trial == self.model_trial:  # logged before this study was resumed
            return
        extra = {"trial": trial, "metric": self.cfg.metric, "value": value}
        self.model = log_best_model(
            self.client, parent, self.run_dir.best, extra, self.cfg.register_model
        )
        self.client.set_tag(parent, MODEL_TRIAL_TAG, str(trial))
        self.model_trial = trial

    def _end(self, status: str) -> None:
        self.client.set_terminated(self._parent(), status)

    def _log_batch(
        self,
        run_id: str,
        metrics: Iterable[tuple[str, float, int, int]] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """``log_batch`` in MLflow's limits; metrics as (key, value, timestamp ms, step)."""
        from mlflow.entities import Metric, Param, RunTag

        ms = [Metric(k, float(v), ts, step) for k, v, ts, step in metrics]
        ps = [Param(k, v) for k, v in (params or {}).items()]
        ts_ = [RunTag(k, v) for k, v in (tags or {}).items()]
        while ms or ps or ts_:
            self.client.log_batch(run_id, metrics=ms[:1000], params=ps[:_BATCH], tags=ts_[:_BATCH])
            ms, ps, ts_ = ms[1000:], ps[_BATCH:], ts_[_BATCH:]


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


def _numbers(trials: list[int]) -> str:
    shown = ", ".join(str(n) for n in sorted(trials)[:10])
    return shown + (", ..." if len(trials) > 10 else "")


# settings that say nothing about the study itself
_NOT_LOGGED = frozenset({"space", "mlflow", "mlflow_tracking_uri"})


def _config_params(cfg: TuneConfig) -> dict[str, str]:
    """The settings that define the study (``--resume`` cannot change them), and the search
    space one parameter per entry."""
    params = {
        f.name: str(getattr(cfg, f.name))
        for f in fields(cfg)
        if f.metadata["resume"] is not True
        and f.name not in _NOT_LOGGED
        and getattr(cfg, f.name) is not None
    }
    for name, spec in (cfg.space or {}).items():
        params[f"space.{name}"] = json.dumps(spec, sort_keys=True)
    return params


def _config_tags(cfg: TuneConfig) -> dict[str, str]:
    """The settings ``--resume`` may change, as (mutable) tags."""
    return {
        f"sparktf.config.{f.name}": str(getattr(cfg, f.name))
        for f in fields(cfg)
        if f.metadata["resume"] is True
        and f.name not in _NOT_LOGGED
        and getattr(cfg, f.name) is not None
    }


def _trial_metrics(
    rec: record.TrialRecord, curve: str, metric: str
) -> list[tuple[str, float, int, int]]:
    """The per-epoch curve (step = epoch), then the final metrics at the last epoch."""
    now = int((rec.run_end or time.time()) * 1000)
    out = [(curve, v, now, step) for step, v in rec.curve.items()]
    last = rec.epochs_completed or max(rec.curve, default=0)
    final = dict(rec.metrics)
    if metric not in final and rec.value is not None and rec.state == TrialStatus.COMPLETE:
        final[metric] = rec.value
    if rec.compute_s is not None:
        final["duration_s"] = rec.compute_s
    if final.get(curve) == rec.curve.get(last):  # the curve's last point already
        final.pop(curve, None)
    return out + [(k, v, now, last) for k, v in final.items()]


def _trial_tags(rec: record.TrialRecord) -> dict[str, str]:
    tags = {
        STATE_TAG: rec.state,
        "sparktf.worker": rec.worker,
        "sparktf.attempts": rec.attempts,
        "sparktf.epochs_completed": rec.epochs_completed,
        "sparktf.pruned_at_epoch": rec.pruned_at_epoch,
        "sparktf.resumed_from_epoch": rec.resumed_from_epoch,
    }
    return {k: str(v) for k, v in tags.items() if v is not None}
