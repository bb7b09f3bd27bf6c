"""``sparktf.tune``: check the configuration, open the study, start Spark, dispatch, report."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparktf.errors import ConfigError
from sparktf.execution.backends import Backend, make_backend, parse_dispatch
from sparktf.execution.dispatcher import Dispatcher
from sparktf.execution.runner import Objective, ObjectiveKind, TrialOutcome
from sparktf.execution.settings import DispatchSettings
from sparktf.rundir import RunDir
from sparktf.search.mirror import MirroredStudy
from sparktf.search.moasha import MOASHA, CurveOnly, StepPruning
from sparktf.search.multi import KNOWN_BEFORE_TRAINING, normalize_objectives, objective_specs
from sparktf.search.record import TrialStatus
from sparktf.search.space import SearchSpace
from sparktf.search.study import (
    grid_points,
    make_pruner,
    make_sampler,
    make_storage,
    open_study,
    resolve_pruner,
)
from sparktf.search.warmstart import WarmStart, warm_trials
from sparktf.signals import Stopped, orderly_stop
from sparktf.tuning.config import TuneConfig, field_names
from sparktf.tuning.data import study_data
from sparktf.tuning.data_config import builtin_as_dataset
from sparktf.tuning.display import Display, print_summary
from sparktf.tuning.durability import checkpoint_place, preflight_hook
from sparktf.tuning.front import settle_front
from sparktf.tuning.goals_config import goals_of
from sparktf.tuning.objectives import resolve_objective
from sparktf.tuning.outputs import Outputs, TuneResult, check_failed, result
from sparktf.tuning.resume import prepare_resume, resume_config
from sparktf.tuning.tracking import NoTracking, track_study

if TYPE_CHECKING:
    import optuna
    from pyspark.sql import SparkSession

Say = Callable[[str], None]


def tune(
    objective: str | Callable[..., Any] | None = None,
    space: SearchSpace | Mapping[str, Any] | str | Path | None = None,
    *,
    data: Any = None,
    spark: SparkSession | None = None,
    spark_conf: Mapping[str, Any] | None = None,
    resume: bool = False,
    enqueue: Sequence[Mapping[str, Any]] = (),
    show_progress: bool = True,
    write_report: bool = True,
    dispatch: str | None = None,
    **settings: Any,
) -> TuneResult:
    """Run a hyperparameter study, each trial as one Spark task.

    Args:
        objective: a model family name (``"mnist_cnn"``), ``"module:function"``, any
            objective ``f(params)`` / ``f(params, data)`` returning a number or a dict (call
            :func:`sparktf.trial.report` inside it to allow pruning), or a Keras builder
            ``build(params) -> compiled keras.Model`` marked with
            :func:`sparktf.keras_builder` (or annotated ``-> keras.Model``). Not needed with
            ``resume`` (the saved one is used).
        space: the search space (SearchSpace, dict, or a YAML/JSON path).
        data: a data set name, a path (as ``data=`` setting), an ``ImageDataset``, or anything
            picklable for a custom objective; broadcast once to the executors.
        spark: a running SparkSession (default: one for ``master``, started once every
            setting has been checked).
        spark_conf: extra Spark configuration for the session ``tune`` starts.
        resume: continue the study in ``out``.
        enqueue: parameter sets to try first (e.g. the defaults).
        show_progress: show the live progress display and the final summary.
        write_report: write the HTML report at the end.
        dispatch: how trials reach Spark: ``"trial"`` (one Spark job or query per trial) or
            ``"slot"`` (one long-lived task per slot asks the driver for its next trial over
            the report channel); default: slot on Spark Connect when the executors reach the
            channel, else trial.
        **settings: any field of :class:`TuneConfig`: ``out`` (default ``runs/study-TIME``),
            ``trials`` (20), ``metric``, ``direction``; several objectives: ``objectives``
            (``{"val_accuracy": "max", "params": "min"}``), ``constraints``
            (``["params <= 2e6"]``), ``select`` (``occam:0.005`` or ``first``), ``warm_start``
            (an earlier run directory); ``sampler`` (tpe, random, grid, cmaes, gp, nsga2),
            ``seed``, ``pruner`` (auto, asha, hyperband, median, none), ``min_epochs``,
            ``reduction_factor``, ``parallelism``, ``master``, ``remote`` (a Spark Connect
            URL), ``storage`` (an Optuna RDB URL), ``study_name``, ``max_retries``,
            ``trial_timeout``, ``timeout``, ``val_fraction``,
            ``dataset``, ``data_dir``, ``train_subset``, ``test_subset``, ``channel``,
            ``channel_advertise``; your own data: ``data`` (a built-in name or a path: a
            folder of class subfolders, a Parquet/CSV table), ``label_column``,
            ``image_column``, ``feature_columns``, ``id_column``, ``test_data``,
            ``test_fraction``,
            ``image_size``, ``broadcast_limit`` (bytes), ``backbone`` and ``weights``
            (``transfer``); MLflow tracking: ``mlflow`` (True to track the study),
            ``mlflow_tracking_uri``, ``mlflow_experiment``, ``register_model``.

    Returns:
        The :class:`TuneResult`.

    Raises:
        ConfigError: invalid configuration (nothing was started or written).
        StudyFailed: no trial completed.
        KeyboardInterrupt: after Ctrl-C, with the running trials cancelled and recorded.
    """
    from sparktf.console import is_quiet, quiet_python_api

    quiet_python_api()
    t0 = time.perf_counter()
    quiet = is_quiet()
    say: Say = _sayer(show_progress and not quiet)  # sparktf's informational lines
    tell: Say = _sayer(show_progress, always=True)  # what the user must know even with --quiet
    if dispatch is not None:
        settings["dispatch"] = dispatch
    cfg, obj = _configure(objective, space, data, resume, settings)
    loaded = study_data(cfg, None if isinstance(data, str) else data, obj)
    data_obj, obj = loaded.data, loaded.objective
    cfg, sampler, pruner = _search(cfg, obj, say)
    if loaded.report is not None:
        (tell if loaded.report.skipped else say)(loaded.report.line())

    from sparktf.spark import is_connect, master_of, session

    app = f"sparktf-tune:{cfg.run_dir.path.name}"
    spark = spark or session(cfg.master, app_name=app, conf=spark_conf, remote=cfg.remote)
    backend = make_backend(spark, parse_dispatch(cfg.dispatch), channel=cfg.channel)
    mirror = _open_study(cfg, sampler, pruner, resume, enqueue, say)
    slots = backend.slots
    par = _parallelism(cfg, slots, say)
    if not is_connect(spark):  # the master a classic session really has (local[*] -> local[2])
        cfg = replace(cfg, master=master_of(spark))
    from sparktf.fileio import write_json

    report = {"data_report": loaded.report.to_dict()} if loaded.report else {}
    write_json(cfg.run_dir.config, {**cfg.to_dict(), **report})
    with track_study(cfg, mirror.study, say, tell) as tracking:  # MLflow, under --mlflow
        show = show_progress and not quiet
        with orderly_stop():  # SIGTERM and SIGHUP stop the study as Ctrl-C does
            gave_up = _dispatch(
                backend, cfg, obj, data_obj, mirror, (par, slots), show, tell, tracking
            )
        chosen = settle_front(cfg, mirror.study, say) if goals_of(cfg).is_multi else None
        res = result(mirror.study, cfg.run_dir, time.perf_counter() - t0, chosen)
        if show_progress:
            print_summary(res, cfg, table=not quiet)
        if loaded.report is not None and loaded.report.skipped:
            tell(loaded.report.skipped_note(cfg.run_dir.config))
        hint = _resume_hint(cfg)
        counted = sum(n for state, n in res.counts.items() if TrialStatus(state).counts)
        if counted < cfg.trials:  # interrupted trials of an earlier run, re-run since, uncounted
            tell(f"the study stopped after {counted} of {cfg.trials} trials; {hint}")
        if write_report:
            _report(cfg.run_dir.path, say)
        tracking.study_finished(res)
        check_failed(res, hint, gave_up)
    return res


def _sayer(show: bool, always: bool = False) -> Say:
    """Print sparktf's lines on stderr when ``show``; with ``always``, even under --quiet."""

    def say(msg: str) -> None:
        if not show:
            return
        from rich.text import Text

        from sparktf.console import console, print_always

        if always:
            print_always(Text(msg))
        else:
            console.print(msg, markup=False, highlight=False)

    return say


def _resume_hint(cfg: TuneConfig) -> str:
    return f"continue it with: sparktf tune --resume {cfg.run_dir.path}"


def _configure(
    objective: str | Callable[..., Any] | None,
    space: Any,
    data: Any,
    resume: bool,
    settings: dict[str, Any],
) -> tuple[TuneConfig, Objective]:
    """The checked configuration and the objective; nothing is created yet."""
    unknown = sorted(set(settings) - field_names())
    if unknown:
        raise ConfigError(
            f"unknown tune() setting(s) {', '.join(unknown)}: expected any of "
            f"{', '.join(sorted(field_names()))}"
        )
    if isinstance(data, str):  # a built-in name or a path (--data)
        settings = {**settings, "data": data}
    if resume:
        changes = builtin_as_dataset(dict(settings))
        for one, other in (("master", "remote"), ("remote", "master")):
            if changes.get(one) is not None:  # a new session kind replaces the saved one
                changes.setdefault(other, None)
        if changes.get("objectives") is not None:  # as config.json keeps them
            changes["objectives"] = objective_specs(normalize_objectives(changes["objectives"]))
        if isinstance(objective, str):
            changes["objective"] = objective
        if space is not None:
            changes["space"] = SearchSpace.coerce(space).to_dict()
        cfg = resume_config(settings.get("out"), changes)
        obj, _ = resolve_objective(objective if callable(objective) else cfg.objective)
        return cfg, obj
    if objective is None:
        raise ConfigError("give the model or objective to tune (--model or --objective)")
    obj, name = resolve_objective(objective)
    out = settings.pop("out", None) or Path("runs") / time.strftime("study-%Y%m%d-%H%M%S")
    cfg = TuneConfig(
        objective=name, objective_kind=obj.kind.value, space=space, out=str(out), **settings
    )
    run = cfg.run_dir
    if run.config.exists() or run.database.exists():
        raise ConfigError(
            f"{run.path} already holds a study; continue it with --resume, or choose a new --out"
        )
    return cfg, obj


def _search(
    cfg: TuneConfig, obj: Objective, say: Say
) -> tuple[TuneConfig, optuna.samplers.BaseSampler, optuna.pruners.BasePruner]:
    """The sampler and pruner; ``auto`` resolved and a grid's trial count settled in ``cfg``."""
    sp = cfg.search_space
    max_epochs = sp.max_value("epochs")
    if max_epochs is None and obj.kind is ObjectiveKind.FAMILY:
        from sparktf.keras.models import get_family

        max_epochs = get_family(obj.name).defaults.get("epochs")
    epochs = int(max_epochs) if max_epochs else None
    pruner_name = resolve_pruner(cfg.pruner, epochs)
    trials = cfg.trials
    if cfg.sampler == "grid" and trials > sp.grid_size():
        say(f"warning: the grid has {sp.grid_size()} points; running {sp.grid_size()} trials")
        trials = sp.grid_size()
    cfg = replace(cfg, pruner=pruner_name, trials=trials)
    sampler = make_sampler(cfg.sampler, sp, cfg.seed)
    return cfg, sampler, make_pruner(pruner_name, cfg.min_epochs, cfg.reduction_factor, epochs)


def _open_study(
    cfg: TuneConfig,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    resume: bool,
    enqueue: Sequence[Mapping[str, Any]],
    say: Say,
) -> MirroredStudy:
    """The in-memory study that the dispatcher works on, mirrored to the storage.

    A run directory's own SQLite file that does not exist yet cannot hold a study: the mirror's
    writer creates it while the first trials start. Any other storage is opened (and checked)
    first. A resumed study whose file was never created (the driver stopped within the first
    moments) had nothing saved, and starts again.
    """
    run = cfg.run_dir
    fresh = not cfg.storage and not run.database.exists()
    if resume and fresh:
        say("resume: the study stopped before anything was saved; starting it again")

    goals = goals_of(cfg)
    direction = goals.objectives if goals.is_multi else cfg.direction

    def create() -> optuna.Study:
        return open_study(
            cfg.storage_url, cfg.study_name, direction, sampler, pruner, resume and not fresh
        )

    if fresh:
        run.path.mkdir(parents=True, exist_ok=True)
        mirror = MirroredStudy.fresh(create, cfg.study_name, direction, sampler, pruner)
    else:
        persistent = create()
        run.path.mkdir(parents=True, exist_ok=True)
        if resume:
            prepare_resume(persistent, say)
        mirror = MirroredStudy(persistent, sampler, pruner)
    # a new study (or one started again) gets the grid; a resumed one has it already
    points = grid_points(cfg.search_space, cfg.seed) if cfg.sampler == "grid" else []
    for params in [*(points if fresh or not resume else []), *enqueue]:
        mirror.enqueue(params)
    if cfg.warm_start and (fresh or not resume):
        warm = load_warm_start(cfg)
        for t in warm.trials:
            mirror.add(t)
        say(warm.line(cfg.warm_start))
    return mirror


def _parallelism(cfg: TuneConfig, slots: int, say: Say) -> int:
    """Trials in flight: ``--parallelism`` (warned about when it exceeds what can run) or the
    cluster's task slots, at most the number of trials."""
    par = cfg.parallelism or slots
    if cfg.parallelism and par > slots:
        say(
            f"warning: --parallelism {par} exceeds the cluster's {slots} task slots; "
            "trials will queue in Spark"
        )
    if cfg.parallelism and par > cfg.trials:
        say(f"warning: --parallelism {par} exceeds the {cfg.trials} trials; using {cfg.trials}")
    return min(par, cfg.trials)


def _suggest(cfg: TuneConfig, obj: Objective) -> Callable[[optuna.Trial], dict[str, Any]]:
    from sparktf.search.record import PARAMS

    sp = cfg.search_space
    defaults: dict[str, Any] = {}
    if obj.kind is ObjectiveKind.FAMILY:
        from sparktf.keras.models import get_family

        defaults = dict(get_family(obj.name).defaults)

    def suggest(trial: optuna.Trial) -> dict[str, Any]:
        params = {**defaults, **sp.fixed(), **sp.suggest(trial)}
        trial.set_user_attr(PARAMS, params)
        return params

    return suggest


def _dispatch(
    backend: Backend,
    cfg: TuneConfig,
    obj: Objective,
    data: Any,
    mirror: MirroredStudy,
    slots: tuple[int, int],
    show_progress: bool,
    tell: Say,
    tracking: Any = None,
) -> str | None:
    """Run the trials; trials.csv and the storage are complete when this returns or raises.
    ``slots`` is (trials in flight, the cluster's task slots); ``tracking`` (MLflow) is told
    of each trial that starts and ends. Returns why the study gave up early (--max-failures),
    or None."""
    from sparktf.spark import master_of

    spark = backend.spark
    tracking = tracking or NoTracking()
    par = slots[0]
    say = _sayer(show_progress)  # False under --quiet
    study = mirror.study
    outputs = Outputs(cfg, obj, data)
    settings = DispatchSettings(
        trials=cfg.trials,
        parallelism=par,
        metric=cfg.metric,
        direction=cfg.direction,
        monitor=cfg.monitor,
        max_retries=cfg.max_retries,
        trial_timeout=cfg.trial_timeout,
        timeout=cfg.timeout,
        val_fraction=cfg.val_fraction,
        channel=cfg.channel,
        channel_advertise=cfg.channel_advertise,
        **_goal_settings(cfg),
        checkpoints=checkpoint_place(cfg, spark, say),
        max_failures=cfg.max_failures,
    )
    keras = obj.kind is not ObjectiveKind.FUNCTION
    display = Display(cfg, cfg.trials, show_progress)

    def finished(trial: optuna.Trial, outcome: TrialOutcome | None) -> None:
        mirror.finished(trial)
        tracking.trial_finished(trial)
        outputs.trial_finished(study, trial, outcome)
        display.update(study, dispatcher)

    def started(trial: optuna.Trial) -> None:
        mirror.started(trial)
        tracking.trial_started(trial)

    dispatcher = Dispatcher(
        backend,
        study,
        _suggest(cfg, obj),
        obj,
        data,
        settings,
        finished,
        display.event,
        started,
        on_slots=lambda: display.update(study, dispatcher),
        before_trials=preflight_hook(backend, keras, settings.checkpoints, slots, say),
    )
    say(
        f"study {cfg.study_name!r} in {cfg.run_dir.path}: {cfg.trials} trials, {par} in parallel "
        f"on {master_of(spark)}, sampler {cfg.sampler}, pruner {_pruner_name(cfg)}, "
        + ", ".join(f"{d} {n}" for n, d in goals_of(cfg).objectives.items())
        + "".join(f"; {c}" for c in cfg.constraints or ())
    )
    try:
        with display:
            display.update(study, dispatcher)
            dispatcher.run()
    except KeyboardInterrupt as exc:
        signalled = isinstance(exc, Stopped) and exc.signum != signal.SIGINT
        what = "stopped" if signalled else "interrupted"
        tell(f"{what}: the running trials were cancelled; {_resume_hint(cfg)}")
        raise
    finally:
        outputs.write_csv(study)
        for problem in mirror.close():
            tell(f"warning: {problem}")
    return dispatcher.gave_up


def _pruner_name(cfg: TuneConfig) -> str:
    return "mo-asha" if cfg.pruner == "asha" and goals_of(cfg).is_multi else cfg.pruner


def _goal_settings(cfg: TuneConfig) -> dict[str, Any]:
    """The dispatcher's ``goals`` (several objectives or constraints) and ``pruning``
    (MO-ASHA for several objectives under ``asha``)."""
    goals = goals_of(cfg)
    if not goals.is_multi and not goals.constraints:
        return {}
    pruning: StepPruning | None = None
    if goals.is_multi and cfg.pruner == "asha" and cfg.metric in goals.objectives:
        known = {n: d for n, d in goals.objectives.items() if n in KNOWN_BEFORE_TRAINING}
        pruning = MOASHA(cfg.direction, known, cfg.min_epochs, cfg.reduction_factor)
    elif goals.is_multi:
        pruning = CurveOnly()
    return {"goals": goals, "pruning": pruning}


def load_warm_start(cfg: TuneConfig) -> WarmStart:
    """The trials of the study in ``--warm-start RUN_DIR`` that fit this one.

    Raises:
        ConfigError: RUN_DIR holds no study.
    """
    import optuna

    source = RunDir(Path(cfg.warm_start or ""))
    saved = source.read_config()
    try:
        old = optuna.load_study(
            study_name=str(saved.get("study_name") or "sparktf"),
            storage=make_storage(source.storage_url),
        )
    except KeyError:
        raise ConfigError(
            f"--warm-start {source.path}: its storage holds no study "
            f"{saved.get('study_name')!r}; name the run directory of a finished study"
        ) from None
    return warm_trials(old, cfg.search_space, goals_of(cfg).objectives, str(source.path))


def _report(run_dir: Path, say: Say) -> None:
    from sparktf.report import write_report

    try:
        path = write_report(run_dir)
    except Exception as exc:  # a broken figure must not lose the study's results
        say(f"warning: the report could not be written: {exc}")
    else:
        say(f"report: {path}")
