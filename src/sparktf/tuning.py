"""``sparktf.tune``: distributed hyperparameter search of Keras models (or any objective) on Spark.

Example::

    import sparktf
    result = sparktf.tune(
        "mnist_cnn",
        {"neurons": sparktf.choice([64, 256, 1024]),
         "learning_rate": sparktf.loguniform(1e-5, 1e-2)},
        data="fashion-mnist", trials=32, sampler="tpe", seed=7, out="runs/fmnist-1",
    )
    print(result.best_params, result.best_value)
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import json
import math
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sparktf.errors import ConfigError, SparkTFError
from sparktf.execution.dispatcher import INTERRUPTED, Dispatcher, DispatchSettings
from sparktf.execution.runner import Objective, ObjectiveKind, TrialOutcome
from sparktf.rundir import (
    BEST_METRICS,
    BEST_MODEL,
    BEST_PARAMS,
    PREPROCESSING,
    TRIAL_COLUMNS,
    RunDir,
)
from sparktf.search.mirror import MirroredStudy
from sparktf.search.space import SearchSpace
from sparktf.search.study import (
    grid_points,
    is_better,
    make_pruner,
    make_sampler,
    open_study,
    resolve_pruner,
)

if TYPE_CHECKING:
    import optuna
    import pandas as pd
    from pyspark.sql import SparkSession


class StudyFailed(SparkTFError):
    """Every trial of the study failed; the message shows the first traceback."""


@dataclass(frozen=True)
class TuneConfig:
    """The whole configuration of a study; written to ``config.json`` and read by ``--resume``."""

    objective: str
    objective_kind: str
    space: dict[str, Any]
    out: str
    dataset: str | None = None
    data_dir: str | None = None
    train_subset: int | None = None
    test_subset: int | None = None
    trials: int = 20
    metric: str = "val_accuracy"
    direction: str = "maximize"
    sampler: str = "tpe"
    seed: int | None = None
    pruner: str = "auto"
    min_epochs: int = 1
    reduction_factor: int = 3
    parallelism: int | None = None
    master: str | None = None
    storage: str | None = None
    study_name: str = "sparktf"
    max_retries: int = 1
    trial_timeout: float | None = None
    timeout: float | None = None
    val_fraction: float = 0.1
    channel: bool = True
    channel_advertise: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, with library versions."""
        d = asdict(self)
        d["versions"] = _versions()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TuneConfig:
        """Read back :meth:`to_dict`'s output (unknown keys are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class TuneResult:
    """What a study found.

    Attributes:
        best_params: the best trial's hyperparameters (None when no trial completed).
        best_value: its optimised metric.
        best_metrics: all its metrics (test error, training time, ...).
        best_model_path: the saved best model (Keras objectives), else None.
        trials: one row per trial, as in ``trials.csv``.
        run_dir: the run directory.
        counts: number of trials per state.
        wall_seconds: the time this call took.
    """

    best_params: dict[str, Any] | None
    best_value: float | None
    best_metrics: dict[str, float]
    best_model_path: Path | None
    trials: pd.DataFrame
    run_dir: Path
    counts: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0


@functools.cache  # ~40 ms of package metadata; installed versions do not change in a process
def _installed_versions() -> tuple[tuple[str, str], ...]:
    out = {"python": platform.python_version()}
    for pkg in (
        "sparktf",
        "pyspark",
        "optuna",
        "tensorflow-cpu",
        "tensorflow",
        "keras",
        "numpy",
        "pandas",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    return tuple(out.items())


def _versions() -> dict[str, str]:
    return dict(_installed_versions())


# -- objectives ------------------------------------------------------------------------------


def _callable_kind(fn: Callable[..., Any]) -> ObjectiveKind:
    try:
        n = len(
            [
                p
                for p in inspect.signature(fn).parameters.values()
                if p.default is inspect.Parameter.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
        )
    except (TypeError, ValueError):
        n = 2
    if n == 1:
        return ObjectiveKind.BUILD
    if n == 2:
        return ObjectiveKind.FUNCTION
    raise ConfigError(
        f"objective {getattr(fn, '__name__', fn)!r} takes {n} arguments: expected "
        "build(params) -> keras.Model or objective(params, data) -> float | dict"
    )


def _import_callable(spec: str) -> Callable[..., Any]:
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ConfigError(f"objective {spec!r}: expected a model name or 'module:function'")
    try:
        obj = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot import objective {spec!r}: {exc}") from exc
    if not callable(obj):
        raise ConfigError(f"objective {spec!r} is not callable")
    return obj  # type: ignore[no-any-return,unused-ignore]


def resolve_objective(objective: str | Callable[..., Any]) -> tuple[Objective, str]:
    """Turn a model name, ``module:function`` or callable into an :class:`Objective`.

    Returns:
        The objective and its name for ``config.json``.
    """
    from sparktf.keras.models import FAMILIES

    if isinstance(objective, str):
        if objective in FAMILIES:
            fam = FAMILIES[objective]
            return (
                Objective(ObjectiveKind.FAMILY, fam.name, None, fam.input_shape, fam.scale),
                objective,
            )
        if ":" not in objective:
            raise ConfigError(
                f"unknown model {objective!r}: expected one of {', '.join(FAMILIES)} or "
                "'module:function' naming your own objective"
            )
        fn = _import_callable(objective)
        name = objective
    elif callable(objective):
        fn = objective
        name = f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"
    else:
        raise ConfigError(f"objective must be a model name or a callable, got {objective!r}")
    kind = _callable_kind(fn)
    _ship_by_value(fn)
    return Objective(kind, name, fn), name


def _ship_by_value(fn: Callable[..., Any]) -> None:
    """Pickle the objective's module by value when executors may be unable to import it."""
    module = sys.modules.get(getattr(fn, "__module__", "") or "")
    if module is None or module.__name__ in ("__main__", "builtins"):
        return
    path = str(getattr(module, "__file__", "") or "")
    if module.__name__.startswith("sparktf.") or "site-packages" in path:
        return
    from pyspark import cloudpickle

    with contextlib.suppress(ValueError, TypeError):
        cloudpickle.register_pickle_by_value(module)


# -- data ------------------------------------------------------------------------------------


def _subset(ds: Any, train: int | None, test: int | None) -> Any:
    from sparktf.datasets import ImageDataset

    for n, flag in ((train, "--train-subset"), (test, "--test-subset")):
        if n is not None and n < 2:
            raise ConfigError(f"{flag} must be at least 2 images, got {n}")
    return ImageDataset(
        name=ds.name,
        x_train=ds.x_train[:train] if train else ds.x_train,
        y_train=ds.y_train[:train] if train else ds.y_train,
        x_test=ds.x_test[:test] if test else ds.x_test,
        y_test=ds.y_test[:test] if test else ds.y_test,
        class_names=ds.class_names,
        source=ds.source,
    )


def _load_data(cfg: TuneConfig, data: Any, kind: ObjectiveKind) -> Any:
    from sparktf.datasets import ImageDataset, load

    if isinstance(data, str):
        data = load(data, data_dir=cfg.data_dir)
    elif data is None and kind is not ObjectiveKind.FUNCTION:
        data = load(cfg.dataset or "fashion-mnist", data_dir=cfg.data_dir)
    if isinstance(data, ImageDataset):
        data = _subset(data, cfg.train_subset, cfg.test_subset)
    elif kind is not ObjectiveKind.FUNCTION:
        raise ConfigError(
            "Keras objectives need image data: a data set name (mnist, fashion-mnist) or a "
            f"sparktf.datasets.ImageDataset, got {type(data).__name__}"
        )
    return data


# -- outputs ---------------------------------------------------------------------------------


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: the columns of ``rundir.TRIAL_COLUMNS``, then params, then metrics."""
    import pandas as pd

    rows = []
    for t in study.get_trials(deepcopy=False):
        ua = t.user_attrs
        row: dict[str, Any] = {
            "number": t.number,
            "state": "FAILED" if t.state.name == "FAIL" else t.state.name,
            "value": t.value
            if t.value is not None
            else (t.intermediate_values[t.last_step] if t.last_step is not None else None),
            "datetime_start": t.datetime_start.isoformat() if t.datetime_start else None,
            "datetime_complete": t.datetime_complete.isoformat() if t.datetime_complete else None,
            "duration_s": ua.get("compute_s"),
            "attempts": ua.get("attempts"),
            "worker_host": ua.get("worker_host"),
            "worker_pid": ua.get("worker_pid"),
            "epochs_completed": ua.get("epochs_completed", 0),
            "pruned_at_epoch": ua.get("pruned_at_epoch"),
            "error": ua.get("error"),
        }
        row.update({f"params_{k}": v for k, v in t.params.items()})
        row.update(ua.get("metrics", {}))
        if ua.get(INTERRUPTED):
            row["interrupted"] = True
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=list(TRIAL_COLUMNS))
    return df


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    tmp.replace(path)


class _Outputs:
    """Keeps trials.csv and best/ up to date as trials finish (the CSV at most every
    ``CSV_EVERY_S`` seconds while the study runs, and always at its end)."""

    CSV_EVERY_S = 2.0

    def __init__(self, run: RunDir, cfg: TuneConfig, objective: Objective, data: Any) -> None:
        self.run = run
        self.cfg = cfg
        self.objective = objective
        self.class_names = list(getattr(data, "class_names", []) or [])
        self.best_saved: float | None = None
        self.csv_written = -math.inf
        metrics_file = run.best / BEST_METRICS
        if metrics_file.is_file():  # a resumed study keeps its best model
            saved = json.loads(metrics_file.read_text())
            self.best_saved = saved.get(cfg.metric)

    def trial_finished(
        self, study: optuna.Study, trial: optuna.Trial, outcome: TrialOutcome | None
    ) -> None:
        if (
            outcome is not None
            and outcome.state.value == "COMPLETE"
            and outcome.value is not None
            and is_better(outcome.value, self.best_saved, self.cfg.direction)
        ):
            is_keras = self.objective.kind is not ObjectiveKind.FUNCTION
            if not is_keras or outcome.model_bytes is not None:
                self._save_best(trial, outcome)
        if time.monotonic() - self.csv_written >= self.CSV_EVERY_S:
            self.write_csv(study)

    def _save_best(self, trial: optuna.Trial, outcome: TrialOutcome) -> None:
        best = self.run.best
        best.mkdir(parents=True, exist_ok=True)
        if outcome.model_bytes is not None:
            tmp = best / (BEST_MODEL + ".tmp")
            tmp.write_bytes(outcome.model_bytes)
            tmp.replace(best / BEST_MODEL)
            _write_json(
                best / PREPROCESSING,
                {
                    "input_shape": list(self.objective.input_shape),
                    "scale": self.objective.scale,
                    "class_names": self.class_names,
                },
            )
        _write_json(
            best / BEST_PARAMS, {"trial": trial.number, **trial.params, **_full_params(trial)}
        )
        _write_json(best / BEST_METRICS, {"trial": trial.number, **outcome.metrics})
        assert outcome.value is not None
        self.best_saved = outcome.value

    def write_csv(self, study: optuna.Study) -> None:
        self.csv_written = time.monotonic()
        df = trials_frame(study)
        tmp = self.run.trials_csv.with_suffix(".csv.tmp")
        df.to_csv(tmp, index=False)
        tmp.replace(self.run.trials_csv)


def _full_params(trial: optuna.Trial) -> dict[str, Any]:
    return dict(trial.user_attrs.get("params", {})) if hasattr(trial, "user_attrs") else {}


# -- the study -------------------------------------------------------------------------------


def _prepare_resume(study: optuna.Study, log: Callable[[str], None]) -> None:
    """Mark trials left RUNNING by a lost driver as interrupted, and queue every interrupted
    trial's parameters again (once)."""
    import optuna

    for t in study.get_trials(deepcopy=False):
        if t.state == optuna.trial.TrialState.RUNNING:
            study._storage.set_trial_user_attr(t._trial_id, INTERRUPTED, True)
            study._storage.set_trial_user_attr(
                t._trial_id, "error", "interrupted: the driver stopped while it was running"
            )
            study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
    requeued = 0
    trials = study.get_trials(deepcopy=False)
    already = {t.user_attrs.get("rerun_of") for t in trials}
    for t in trials:
        if t.user_attrs.get(INTERRUPTED) and t.number not in already:
            study.enqueue_trial(t.params, user_attrs={"rerun_of": t.number})
            requeued += 1
    if requeued:
        log(f"resume: {requeued} interrupted trial(s) will run again")


def _configure(
    objective: str | Callable[..., Any],
    space: SearchSpace | Mapping[str, Any] | str | Path | None,
    out: str | Path | None,
    resume: bool,
    overrides: dict[str, Any],
) -> tuple[TuneConfig, Objective, SearchSpace]:
    run_path = Path(out) if out is not None else Path("runs") / time.strftime("study-%Y%m%d-%H%M%S")
    run = RunDir(run_path)
    if resume:
        saved = TuneConfig.from_dict(run.read_config())
        cfg = replace(
            saved,
            **{
                k: v
                for k, v in overrides.items()
                if k
                in ("trials", "timeout", "parallelism", "master", "trial_timeout", "max_retries")
                and v is not None
            },
        )
        obj_spec: str | Callable[..., Any] = objective if callable(objective) else cfg.objective
        obj, _ = resolve_objective(obj_spec)
        return cfg, obj, SearchSpace.from_dict(cfg.space)
    if run.config.exists() or run.database.exists():
        raise ConfigError(
            f"{run_path} already holds a study; continue it with --resume, or choose a new --out"
        )
    if space is None:
        raise ConfigError("a search space is required (--space FILE, or space= in Python)")
    sp = SearchSpace.coerce(space)
    obj, name = resolve_objective(objective)
    if obj.kind is ObjectiveKind.FAMILY:
        from sparktf.keras.models import get_family

        sp.validate_names(get_family(obj.name).defaults, obj.name)
    metric = overrides.get("metric") or (
        "val_accuracy" if obj.kind is not ObjectiveKind.FUNCTION else "value"
    )
    direction = overrides.get("direction") or _default_direction(metric)
    kw = {k: v for k, v in overrides.items() if v is not None}
    kw.update(metric=metric, direction=direction)
    cfg = TuneConfig(
        objective=name, objective_kind=obj.kind.value, space=sp.to_dict(), out=str(run_path), **kw
    )
    if cfg.trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {cfg.trials}")
    if cfg.max_retries < 0:
        raise ConfigError(f"--max-retries must be >= 0, got {cfg.max_retries}")
    for name_, v in (("--trial-timeout", cfg.trial_timeout), ("--timeout", cfg.timeout)):
        if v is not None and v <= 0:
            raise ConfigError(f"{name_} must be a positive number of seconds, got {v}")
    if cfg.parallelism is not None and cfg.parallelism < 1:
        raise ConfigError(f"--parallelism must be at least 1, got {cfg.parallelism}")
    return cfg, obj, sp


def _default_direction(metric: str) -> str:
    low = metric.lower()
    if any(w in low for w in ("accuracy", "auc", "precision", "recall", "f1", "score")):
        return "maximize"
    return "minimize"


def _monitor(metric: str) -> str:
    if metric.startswith("val_"):
        return metric
    if metric.startswith("test_"):
        return "val_" + metric[len("test_") :]
    return "val_accuracy"


def tune(
    objective: str | Callable[..., Any],
    space: SearchSpace | Mapping[str, Any] | str | Path | None = None,
    *,
    data: Any = None,
    trials: int | None = None,
    metric: str | None = None,
    direction: str | None = None,
    sampler: str | None = None,
    seed: int | None = None,
    pruner: str | None = None,
    min_epochs: int | None = None,
    reduction_factor: int | None = None,
    parallelism: int | None = None,
    master: str | None = None,
    spark: SparkSession | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    storage: str | None = None,
    study_name: str | None = None,
    max_retries: int | None = None,
    trial_timeout: float | None = None,
    timeout: float | None = None,
    val_fraction: float | None = None,
    dataset: str | None = None,
    data_dir: str | None = None,
    train_subset: int | None = None,
    test_subset: int | None = None,
    enqueue: Sequence[Mapping[str, Any]] = (),
    channel: bool | None = None,
    channel_advertise: str | None = None,
    show_progress: bool = True,
    write_report: bool = True,
) -> TuneResult:
    """Run a hyperparameter study, each trial as one Spark task.

    Args:
        objective: a model family name (``"mnist_cnn"``), ``"module:function"``, a Keras
            model builder ``build(params) -> compiled keras.Model``, or any objective
            ``f(params, data) -> float | dict`` (call :func:`sparktf.report` inside it to
            allow pruning).
        space: the search space (SearchSpace, dict, or a YAML/JSON path).
        data: a data set name, an ``ImageDataset``, or anything picklable for a custom
            objective; broadcast once to the executors.
        trials: how many trials to finish (default 20).
        metric: the metric to optimise (default ``val_accuracy`` for Keras objectives).
        direction: ``maximize`` or ``minimize`` (default from the metric's name).
        sampler: ``tpe`` (default), ``random``, ``grid``, ``cmaes``, ``gp``.
        seed: the sampler's seed.
        pruner: ``auto`` (ASHA when trials train > 1 epoch), ``asha``, ``hyperband``,
            ``median``, ``none``.
        parallelism: trials in flight (default: the cluster's task slots).
        master: Spark master URL when no ``spark`` session is given.
        out: the run directory (default ``runs/study-<time>``).
        resume: continue the study in ``out``.
        storage: an Optuna RDB URL (default: SQLite ``out/study.db``).
        max_retries: re-runs of a trial whose worker crashed or executor was lost.
        trial_timeout: seconds after which one trial's Spark job is cancelled.
        timeout: seconds after which the study stops (running trials are cancelled).
        enqueue: parameter sets to try first (e.g. the defaults).
        channel: let trials report to the driver (needed for pruning; default True).
        channel_advertise: ``HOST:PORT`` through which executors reach the driver's report
            channel when it differs from the driver's address (NAT, proxies).
        show_progress: show the live progress display and the final table.
        write_report: write the HTML report at the end.

    Returns:
        The :class:`TuneResult`.

    Raises:
        ConfigError: invalid configuration.
        StudyFailed: every trial failed.
    """
    t0 = time.perf_counter()
    overrides = {
        "trials": trials,
        "metric": metric,
        "direction": direction,
        "sampler": sampler,
        "seed": seed,
        "pruner": pruner,
        "min_epochs": min_epochs,
        "reduction_factor": reduction_factor,
        "parallelism": parallelism,
        "master": master,
        "storage": storage,
        "study_name": study_name,
        "max_retries": max_retries,
        "trial_timeout": trial_timeout,
        "timeout": timeout,
        "val_fraction": val_fraction,
        "dataset": dataset if dataset is not None else (data if isinstance(data, str) else None),
        "data_dir": data_dir,
        "train_subset": train_subset,
        "test_subset": test_subset,
        "channel": channel,
        "channel_advertise": channel_advertise,
    }
    cfg, obj, sp = _configure(objective, space, out, resume, overrides)
    run = RunDir(Path(cfg.out))
    from sparktf.console import console

    def say(msg: str) -> None:
        if show_progress:
            console.print(msg, markup=False, highlight=False)

    if resume and isinstance(data, str):
        data = None
    data_obj = _load_data(cfg, data if data is not None else cfg.dataset, obj.kind)

    max_epochs = sp.max_value("epochs")
    if max_epochs is None and obj.kind is ObjectiveKind.FAMILY:
        from sparktf.keras.models import get_family

        max_epochs = get_family(obj.name).defaults.get("epochs")
    pruner_name = resolve_pruner(cfg.pruner, int(max_epochs) if max_epochs else None)
    cfg = replace(cfg, pruner=pruner_name)
    sampler_obj = make_sampler(cfg.sampler, sp, cfg.seed)
    pruner_obj = make_pruner(
        pruner_name, cfg.min_epochs, cfg.reduction_factor, int(max_epochs) if max_epochs else None
    )
    trials_target = cfg.trials
    if cfg.sampler == "grid" and trials_target > sp.grid_size():
        say(
            f"warning: the grid has {sp.grid_size()} points; running {sp.grid_size()} trials, "
            f"not {trials_target}"
        )
        trials_target = sp.grid_size()
        cfg = replace(cfg, trials=trials_target)

    from sparktf.spark import session, task_slots

    run.path.mkdir(parents=True, exist_ok=True)
    storage_url = cfg.storage or f"sqlite:///{run.database.resolve()}"

    # The dispatcher works on an in-memory copy; a background thread writes it to the storage.
    # A run directory's own SQLite file that does not exist yet cannot hold a study: that
    # thread creates it while the first trials start. Any other storage is opened (and
    # checked) first. A resumed study whose file was never created (the driver stopped within
    # the first moments) had nothing saved, and starts again.
    fresh = not cfg.storage and not run.database.exists()
    if resume and fresh:
        say("resume: the study stopped before anything was saved; starting it again")

    def create() -> optuna.Study:
        return open_study(
            storage_url,
            cfg.study_name,
            cfg.direction,
            sampler_obj,
            pruner_obj,
            resume and not fresh,
        )

    if fresh:
        mirror = MirroredStudy.fresh(create, cfg.study_name, cfg.direction, sampler_obj, pruner_obj)
    else:
        persistent = create()
        if resume:
            _prepare_resume(persistent, say)
        mirror = MirroredStudy(persistent, sampler_obj, pruner_obj)
    # a new study (or one started again) gets the grid; a resumed one has it already
    points = grid_points(sp, cfg.seed) if cfg.sampler == "grid" and (fresh or not resume) else []
    for params in [*points, *enqueue]:
        mirror.enqueue(params)
    study = mirror.study

    spark = spark or session(cfg.master, app_name=f"sparktf-tune:{run.path.name}")
    slots = task_slots(spark)
    par = cfg.parallelism or slots
    if par > slots:
        say(
            f"warning: --parallelism {par} exceeds the cluster's {slots} task slots; "
            f"trials will queue in Spark"
        )
    if par > trials_target:
        say(
            f"warning: --parallelism {par} exceeds the {trials_target} trials; using "
            f"{trials_target}"
        )
        par = trials_target
    cfg = replace(cfg, parallelism=cfg.parallelism, master=spark.sparkContext.master)
    _write_json(run.config, {**cfg.to_dict(), "storage": cfg.storage})

    family_defaults: dict[str, Any] = {}
    if obj.kind is ObjectiveKind.FAMILY:
        from sparktf.keras.models import get_family

        family_defaults = dict(get_family(obj.name).defaults)

    def suggest(trial: optuna.Trial) -> dict[str, Any]:
        params = {**family_defaults, **sp.fixed(), **sp.suggest(trial)}
        trial.set_user_attr("params", params)
        return params

    outputs = _Outputs(run, cfg, obj, data_obj)
    settings = DispatchSettings(
        trials=trials_target,
        parallelism=par,
        metric=cfg.metric,
        direction=cfg.direction,
        monitor=_monitor(cfg.metric),
        max_retries=cfg.max_retries,
        trial_timeout=cfg.trial_timeout,
        timeout=cfg.timeout,
        val_fraction=cfg.val_fraction,
        channel=cfg.channel,
        channel_advertise=cfg.channel_advertise,
        queue_ahead=queue_ahead(
            spark.conf.get("spark.dynamicAllocation.enabled", "false"), par, slots
        ),
    )
    display = _Display(cfg, show_progress)

    def finished(trial: optuna.Trial, outcome: TrialOutcome | None) -> None:
        mirror.finished(trial)
        outputs.trial_finished(study, trial, outcome)
        display.update(study, dispatcher)

    dispatcher = Dispatcher(
        spark, study, suggest, obj, data_obj, settings, finished, display.event, mirror.started
    )
    say(
        f"study {cfg.study_name!r} in {run.path}: {trials_target} trials, {par} in parallel on "
        f"{spark.sparkContext.master}, sampler {cfg.sampler}, pruner {pruner_name}, "
        f"{cfg.direction} {cfg.metric}"
    )
    try:
        with display:
            display.update(study, dispatcher)
            dispatcher.run()
    finally:
        outputs.write_csv(study)
        for problem in mirror.close():
            say(f"warning: {problem}")
    result = _result(study, run, cfg, time.perf_counter() - t0)
    if show_progress:
        _print_summary(result, cfg)
    if write_report:
        _report(run, say)
    if result.counts.get("COMPLETE", 0) == 0 and result.counts.get("PRUNED", 0) == 0:
        df = result.trials
        errors = [e for e in df.get("error", []) if isinstance(e, str) and e]
        first = errors[0] if errors else "no trial ran"
        raise StudyFailed(f"all {len(df)} trials failed; the first one's error:\n{first}")
    return result


def _report(run: RunDir, say: Callable[[str], None]) -> None:
    try:
        from sparktf.report import write_report  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return
    try:
        path = write_report(run.path)
        say(f"report: {path}")
    except Exception as exc:  # a broken figure must not lose the study's results
        say(f"warning: the report could not be written: {exc}")


def _result(study: optuna.Study, run: RunDir, cfg: TuneConfig, wall: float) -> TuneResult:
    df = trials_frame(study)
    counts = {str(k): int(v) for k, v in df["state"].value_counts().items()} if len(df) else {}
    best_params = best_value = None
    best_metrics: dict[str, float] = {}
    try:
        best = study.best_trial
        best_params = dict(best.user_attrs.get("params", best.params))
        best_value = best.value
        best_metrics = dict(best.user_attrs.get("metrics", {}))
    except ValueError:
        pass
    model = run.best / BEST_MODEL
    return TuneResult(
        best_params,
        best_value,
        best_metrics,
        model if model.is_file() else None,
        df,
        run.path,
        counts,
        wall,
    )


def _print_summary(result: TuneResult, cfg: TuneConfig) -> None:
    from rich.table import Table

    from sparktf.console import console

    df = result.trials
    done = df[df["state"] == "COMPLETE"] if len(df) else df
    if len(done):
        table = Table(title=f"top trials by {cfg.metric} ({cfg.direction})")
        cols = (
            ["number", "value"]
            + [c for c in df.columns if c.startswith("params_")]
            + [c for c in ("test_error", "train_seconds", "worker_pid") if c in df.columns]
        )
        for c in cols:
            table.add_column(c.removeprefix("params_"))
        top = done.sort_values("value", ascending=cfg.direction == "minimize").head(5)
        for _, row in top.iterrows():
            table.add_row(*[_fmt(row[c]) for c in cols])
        console.print(table)
    counts = ", ".join(f"{v} {k.lower()}" for k, v in sorted(result.counts.items()))
    print(f"trials: {counts or 'none'}; {result.wall_seconds:.1f}s; run directory {result.run_dir}")
    if result.best_params is not None:
        shown = {k: v for k, v in result.best_params.items()}
        print(f"best: {cfg.metric} = {result.best_value:.6g} with {json.dumps(shown, default=str)}")
        if "test_error" in result.best_metrics:
            print(
                f"      test error {result.best_metrics['test_error']:.4f} "
                f"(accuracy {result.best_metrics.get('test_accuracy', float('nan')):.4f})"
            )


def _fmt(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return "" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def queue_ahead(dynamic_allocation: str | None, parallelism: int, slots: int) -> int:
    """How many trials may wait in Spark's queue ahead of a free slot (see the dispatcher):
    the cluster's slots, when Spark's slots alone keep the study within ``parallelism`` (it
    is at least the slots, and dynamic allocation, which would add executors for queued
    jobs, is off: ``dynamic_allocation`` is ``spark.dynamicAllocation.enabled``); else none."""
    if parallelism < slots or (dynamic_allocation or "").strip().lower() == "true":
        return 0
    return slots


class _Display:
    """The live progress display: done / running / pruned / failed, best so far, elapsed."""

    def __init__(self, cfg: TuneConfig, enabled: bool) -> None:
        from sparktf.console import progress

        self.cfg = cfg
        self.enabled = enabled
        self.bar = progress() if enabled else None
        self.task: Any = None

    def __enter__(self) -> _Display:
        if self.bar is not None:
            self.bar.__enter__()
            self.task = self.bar.add_task("tune", total=self.cfg.trials, status="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)

    def event(self, text: str) -> None:
        if self.bar is not None:
            self.bar.console.print(text, markup=False, highlight=False)

    def update(self, study: optuna.Study, dispatcher: Dispatcher) -> None:
        if self.bar is None or self.task is None:
            return
        import optuna

        counts = {s: 0 for s in ("COMPLETE", "PRUNED", "FAIL")}
        best: float | None = None
        for t in study.get_trials(deepcopy=False):
            if t.state.name in counts and not t.user_attrs.get(INTERRUPTED):
                counts[t.state.name] += 1
            if (
                t.state == optuna.trial.TrialState.COMPLETE
                and t.value is not None
                and is_better(t.value, best, self.cfg.direction)
            ):
                best = t.value
        done = sum(counts.values())
        status = (
            f"running {dispatcher.active()} | pruned {counts['PRUNED']} | "
            f"failed {counts['FAIL']} | best {self.cfg.metric} "
            f"{'-' if best is None else f'{best:.4g}'}"
        )
        self.bar.update(self.task, completed=done, status=status)
