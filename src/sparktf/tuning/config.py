"""``TuneConfig``: the whole configuration of a study, checked on construction.

The CLI and the Python API both build it (their keyword names are its field names); it is
written to ``config.json`` and read back by ``--resume``. Each field's metadata names its
command-line flag and says whether ``--resume`` may change it (and if not, why).
"""

from __future__ import annotations

import contextlib
import functools
import platform
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from sparktf.errors import ConfigError
from sparktf.execution.backends import check_dispatch, parse_dispatch
from sparktf.execution.checkpoints import check_store_url
from sparktf.rundir import RunDir
from sparktf.search.space import SearchSpace
from sparktf.search.study import PRUNERS, SAMPLERS, check_storage
from sparktf.tuning.data_config import check_data_settings
from sparktf.tuning.goals_config import check_goals

_ONE = "a study optimises one objective"
_DATA = "the trials so far were trained on other data; start a new study (--out) instead"
_SEARCH = "the trials so far belong to this search; start a new study (--out) instead"
_MLFLOW_RUN = "the study's MLflow run is in that experiment"
_WARM = "the earlier study's trials were given to this one when it started"


def _setting(default: Any, flag: str, resume: bool | str) -> Any:
    """A field with its flag, and ``resume=True`` or the reason why it cannot change."""
    return field(default=default, metadata={"flag": flag, "resume": resume})


@dataclass(frozen=True)
class TuneConfig:
    """The configuration of a study. Construction checks every field (before Spark starts).

    Raises:
        ConfigError: a field is invalid; the message names its flag.
    """

    objective: str = _setting("", "--model/--objective", _ONE)
    objective_kind: str = _setting("family", "--model/--objective", _ONE)
    space: Any = _setting(None, "--space", "a study keeps its search space")
    out: str = _setting("", "--out", True)  # where the run directory is now
    dataset: str | None = _setting(None, "--dataset", _DATA)
    data: str | None = _setting(None, "--data", _DATA)
    label_column: str | None = _setting(None, "--label-column", _DATA)
    image_column: str | None = _setting(None, "--image-column", _DATA)
    feature_columns: list[str] | None = _setting(None, "--feature-columns", _DATA)
    id_column: str | None = _setting(None, "--id-column", _DATA)
    test_data: str | None = _setting(None, "--test-data", _DATA)
    test_fraction: float | None = _setting(None, "--test-fraction", _DATA)
    image_size: list[int] | None = _setting(None, "--image-size", _DATA)
    broadcast_limit: int | None = _setting(None, "--broadcast-limit", True)
    backbone: str | None = _setting(None, "--backbone", _ONE)
    weights: str | None = _setting(None, "--weights", _ONE)
    data_dir: str | None = _setting(None, "--data-dir", True)
    train_subset: int | None = _setting(None, "--train-subset", _DATA)
    test_subset: int | None = _setting(None, "--test-subset", _DATA)
    val_fraction: float = _setting(0.1, "--val-fraction", _DATA)
    trials: int = _setting(20, "--trials", True)
    metric: str = _setting("", "--metric", _SEARCH)
    direction: str = _setting("", "--direction", _SEARCH)
    # {name: max|min} or ["name:max", ...]; kept as ["name:maximize", ...] (JSON keeps the order)
    objectives: Any = _setting(None, "--objective NAME:max|min", _SEARCH)
    constraints: list[str] | None = _setting(None, "--constraint", _SEARCH)
    select: str = _setting("occam:0.005", "--select", True)
    warm_start: str | None = _setting(None, "--warm-start", _WARM)
    sampler: str = _setting("tpe", "--sampler", _SEARCH)
    seed: int | None = _setting(None, "--seed", _SEARCH)
    pruner: str = _setting("auto", "--pruner", _SEARCH)
    min_epochs: int = _setting(1, "--min-epochs", _SEARCH)
    reduction_factor: int = _setting(3, "--reduction-factor", _SEARCH)
    parallelism: int | None = _setting(None, "--parallelism", True)
    master: str | None = _setting(None, "--master", True)
    remote: str | None = _setting(None, "--remote", True)
    storage: str | None = _setting(None, "--storage", "the study is stored there")
    study_name: str = _setting("sparktf", "--study-name", "the study is stored under it")
    max_retries: int = _setting(1, "--max-retries", True)
    trial_timeout: float | None = _setting(None, "--trial-timeout", True)
    timeout: float | None = _setting(None, "--timeout", True)
    checkpoints: bool = _setting(True, "--no-checkpoints", True)
    checkpoint_dir: str | None = _setting(None, "--checkpoint-dir", True)
    checkpoint_every: int = _setting(1, "--checkpoint-every", True)
    max_failures: int = _setting(5, "--max-failures", True)
    channel: bool = _setting(True, "--no-channel", True)
    channel_advertise: str | None = _setting(None, "--channel-address", True)
    dispatch: str | None = _setting(None, "--dispatch", True)  # None: the session's default
    mlflow: bool = _setting(False, "--mlflow", True)
    mlflow_tracking_uri: str | None = _setting(None, "--mlflow-tracking-uri", True)
    mlflow_experiment: str = _setting("sparktf", "--mlflow-experiment", _MLFLOW_RUN)
    register_model: str | None = _setting(None, "--register-model", True)

    def __post_init__(self) -> None:
        if not self.objective:
            raise ConfigError("give the model or objective to tune (--model or --objective)")
        if not self.out:
            raise ConfigError("the run directory (--out) must not be empty")
        sp = SearchSpace.coerce(self.space) if self.space is not None else None
        if sp is None:
            raise ConfigError("a search space is required (--space FILE, or space= in Python)")
        _set(self, space=sp.to_dict())
        _set(self, **check_goals(self))
        _check_counts(self)
        for name, value in check_data_settings(self).items():
            _set(self, **{name: value})
        _check_choices(self, sp)
        _check_places(self)
        _check_mlflow(self)

    # -- derived --------------------------------------------------------------------------

    @property
    def search_space(self) -> SearchSpace:
        """The search space."""
        return SearchSpace.from_dict(self.space)

    @property
    def run_dir(self) -> RunDir:
        """The run directory."""
        return RunDir(Path(self.out))

    @property
    def storage_url(self) -> str:
        """The Optuna storage: ``--storage``, else the run directory's SQLite file."""
        return self.storage or self.run_dir.sqlite_url

    @property
    def monitor(self) -> str:
        """The Keras metric reported after every epoch (and pruned on)."""
        if self.metric.startswith("val_"):
            return self.metric
        if self.metric.startswith("test_"):
            return "val_" + self.metric[len("test_") :]
        return "val_accuracy"

    # -- files ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of ``config.json``, with library versions."""
        return {**asdict(self), "versions": versions()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TuneConfig:
        """Read back :meth:`to_dict`'s output (unknown keys are ignored).

        Raises:
            ConfigError: the saved configuration is no longer valid.
        """
        names = field_names()
        return cls(**{k: v for k, v in d.items() if k in names})

    def resumed(self, changes: Mapping[str, Any]) -> TuneConfig:
        """This (saved) configuration with the settings given to ``--resume``.

        Raises:
            ConfigError: a setting ``--resume`` may not change was given another value.
        """
        allowed: dict[str, Any] = {}
        for f in fields(self):
            if f.name not in changes or changes[f.name] is None:
                continue
            new, old = changes[f.name], getattr(self, f.name)
            if f.metadata["resume"] is True:
                allowed[f.name] = str(new) if isinstance(new, Path) else new
            elif new != old:
                had = (
                    f"has {old!r}"
                    if old is not None
                    else f"was started without {f.metadata['flag']}"
                )
                raise ConfigError(
                    f"{f.metadata['flag']} cannot change on --resume (the study {had}, got "
                    f"{new!r}): {f.metadata['resume']}"
                )
        return replace(self, **allowed)


def _set(cfg: TuneConfig, **values: Any) -> None:
    for k, v in values.items():
        object.__setattr__(cfg, k, v)


@functools.cache
def field_names() -> frozenset[str]:
    """Every field of :class:`TuneConfig` (the keywords ``tune()`` takes as settings)."""
    return frozenset(f.name for f in fields(TuneConfig))


def resumable() -> list[str]:
    """The flags ``--resume`` may change."""
    return sorted({f.metadata["flag"] for f in fields(TuneConfig) if f.metadata["resume"] is True})


def _flag(name: str) -> str:
    """The command-line flag of a TuneConfig field."""
    return str(next(f.metadata["flag"] for f in fields(TuneConfig) if f.name == name))


def _at_least(cfg: TuneConfig, name: str, low: float, what: str) -> None:
    value = getattr(cfg, name)
    if value is not None and (isinstance(value, bool) or not value >= low):
        raise ConfigError(f"{_flag(name)} must be {what}, got {value!r}")


def _check_counts(cfg: TuneConfig) -> None:
    _at_least(cfg, "trials", 1, "at least 1")
    _at_least(cfg, "max_retries", 0, ">= 0")
    _at_least(cfg, "parallelism", 1, "at least 1")
    _at_least(cfg, "min_epochs", 1, ">= 1")
    _at_least(cfg, "checkpoint_every", 1, "at least 1 (epochs)")
    _at_least(cfg, "max_failures", 0, ">= 0 (0: never stop the study for failures)")
    _at_least(cfg, "reduction_factor", 2, ">= 2")
    _at_least(cfg, "train_subset", 2, "at least 2 images")
    _at_least(cfg, "test_subset", 2, "at least 2 images")
    for name in ("trial_timeout", "timeout"):
        value = getattr(cfg, name)
        if value is not None and not value > 0:
            raise ConfigError(f"{_flag(name)} must be a positive number of seconds, got {value!r}")
    if not 0 < cfg.val_fraction < 1:
        raise ConfigError(
            f"--val-fraction must be between 0 and 1 (the share of the training images held "
            f"out for validation), got {cfg.val_fraction!r}"
        )


def _check_choices(cfg: TuneConfig, sp: SearchSpace) -> None:
    if cfg.sampler not in SAMPLERS:
        raise ConfigError(f"unknown sampler {cfg.sampler!r}: expected one of {', '.join(SAMPLERS)}")
    if cfg.sampler == "grid":
        sp.grid()  # a continuous domain has no grid
    if cfg.pruner not in PRUNERS:
        raise ConfigError(f"unknown pruner {cfg.pruner!r}: expected one of {', '.join(PRUNERS)}")
    if cfg.direction not in ("maximize", "minimize"):
        raise ConfigError(f"--direction must be maximize or minimize, got {cfg.direction!r}")
    dispatch = parse_dispatch(cfg.dispatch)
    check_dispatch(dispatch, cfg.channel)
    if dispatch is not None:
        _set(cfg, dispatch=dispatch.value)
    if cfg.objective_kind == "family":
        from sparktf.keras.models import get_family

        sp.validate_names(get_family(cfg.objective).defaults, cfg.objective)
    if cfg.dataset is not None:
        from sparktf.datasets import get_spec

        get_spec(cfg.dataset)


def _check_places(cfg: TuneConfig) -> None:
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; the run directory must be a directory")
    if cfg.data_dir is not None and not Path(cfg.data_dir).is_dir():
        raise ConfigError(f"--data-dir {cfg.data_dir}: no such directory")
    if cfg.master is not None or cfg.remote is not None:
        from sparktf.spark import resolve_master, resolve_remote

        if resolve_remote(cfg.remote, cfg.master) is None:
            resolve_master(cfg.master)
    if cfg.channel_advertise is not None and not re.fullmatch(
        r"(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}", cfg.channel_advertise
    ):
        raise ConfigError(f"--channel-address must be HOST:PORT, got {cfg.channel_advertise!r}")
    if cfg.storage is not None:
        check_storage(cfg.storage)
    if cfg.checkpoint_dir is not None:
        if not cfg.checkpoints:
            raise ConfigError("--checkpoint-dir and --no-checkpoints exclude each other")
        check_store_url(cfg.checkpoint_dir)


def _check_mlflow(cfg: TuneConfig) -> None:
    if not cfg.mlflow:
        for f in fields(cfg):
            if f.name.startswith(("mlflow_", "register_")) and getattr(cfg, f.name) != f.default:
                raise ConfigError(f"{f.metadata['flag']} is about MLflow tracking: add --mlflow")
        return
    from sparktf.tracking.mlflow_lib import require_mlflow

    require_mlflow("--mlflow")
    for name in ("mlflow_tracking_uri", "mlflow_experiment", "register_model"):
        value = getattr(cfg, name)
        if value is not None and not str(value).strip():
            raise ConfigError(f"{_flag(name)} must not be empty")
    if cfg.register_model is not None and cfg.objective_kind == "function":
        raise ConfigError(
            "--register-model registers the best Keras model, and an objective function "
            "saves none: tune a model family (--model) or a Keras builder"
        )


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
        "mlflow",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    return tuple(out.items())


def versions() -> dict[str, str]:
    """The versions of Python and the libraries a study depends on."""
    return dict(_installed_versions())
