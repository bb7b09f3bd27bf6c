"""Optuna wiring: samplers, pruners and storage of a study. No Spark, no TensorFlow."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparktf.errors import ConfigError
from sparktf.search.space import SearchSpace

if TYPE_CHECKING:
    import optuna

SAMPLERS = ("tpe", "random", "grid", "cmaes", "gp", "nsga2")
PRUNERS = ("auto", "asha", "hyperband", "median", "none")


def make_sampler(name: str, space: SearchSpace, seed: int | None) -> optuna.samplers.BaseSampler:
    """Build the Optuna sampler ``name`` (tpe, random, grid, cmaes, gp, nsga2), seeded.

    Raises:
        ConfigError: unknown sampler, or a grid over a continuous domain.
    """
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=5, constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        # Optuna's GridSampler stops the study from inside tell(), which only works in
        # study.optimize(); sparktf enqueues the grid's points instead (see grid_points).
        space.grid()  # raises for continuous domains
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    raise ConfigError(f"unknown sampler {name!r}: expected one of {', '.join(SAMPLERS)}")


def is_better(value: float, best: float | None, direction: str) -> bool:
    """True when ``value`` beats ``best`` (None: nothing yet) in ``direction``."""
    if best is None:
        return True
    return value > best if direction == "maximize" else value < best


def grid_points(space: SearchSpace, seed: int | None) -> list[dict[str, Any]]:
    """Every point of the space's grid, in a seeded random order."""
    import random

    grid = space.grid()
    names = list(grid)
    points = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]
    random.Random(seed).shuffle(points)
    return points


def resolve_pruner(name: str, max_epochs: int | None) -> str:
    """Turn ``auto`` into ``asha`` when trials train more than one epoch, else ``none``."""
    if name not in PRUNERS:
        raise ConfigError(f"unknown pruner {name!r}: expected one of {', '.join(PRUNERS)}")
    if name != "auto":
        return name
    return "asha" if max_epochs is not None and max_epochs > 1 else "none"


def make_pruner(
    name: str,
    min_epochs: int = 1,
    reduction_factor: int = 3,
    max_epochs: int | None = None,
) -> optuna.pruners.BasePruner:
    """Build the Optuna pruner ``name`` (asha, hyperband, median, none).

    Args:
        name: a resolved pruner name (not ``auto``).
        min_epochs: the first rung / warm-up in epochs (reported steps).
        reduction_factor: ASHA/Hyperband's η.
        max_epochs: the largest number of epochs a trial trains (Hyperband's max resource).

    Raises:
        ConfigError: unknown name or invalid numbers.
    """
    import optuna

    if min_epochs < 1:
        raise ConfigError(f"--min-epochs must be >= 1, got {min_epochs}")
    if reduction_factor < 2:
        raise ConfigError(f"--reduction-factor must be >= 2, got {reduction_factor}")
    if name == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=min_epochs, reduction_factor=reduction_factor
        )
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=min_epochs,
            max_resource=max_epochs if max_epochs else "auto",
            reduction_factor=reduction_factor,
        )
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=min_epochs - 1)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"unknown pruner {name!r}: expected one of {', '.join(PRUNERS[1:])}")


def make_storage(url: str) -> optuna.storages.BaseStorage:
    """An Optuna RDB storage for ``url``; SQLite files use write-ahead logging.

    Every trial writes a dozen small records; with SQLite's default journal each commit waits
    for the disk (about 7 ms here), which made bookkeeping the largest cost of short trials.
    In WAL mode with ``synchronous=NORMAL`` a commit survives a crash of the process (a lost
    driver) and only an OS crash may lose the last commits.
    """
    import optuna

    # A SQLite file this call creates has the current schema: skip Optuna's schema check, which
    # loads alembic's ~30 migration scripts (about 0.1 s before the first trial can start).
    fresh = url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists()
    storage = optuna.storages.RDBStorage(url, skip_compatibility_check=fresh)
    if url.startswith("sqlite"):
        from sqlalchemy import event

        def pragmas(conn: Any, _record: Any) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        event.listen(storage.engine, "connect", pragmas)
        storage.engine.dispose()  # connections made before the listener get the pragmas too
    return storage


def open_study(
    storage: str,
    study_name: str,
    direction: str | Sequence[str] | Mapping[str, str],
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    resume: bool,
) -> optuna.Study:
    """Create a new study, or load an existing one when ``resume``. ``direction``: one, or a
    mapping of several objectives' names to their directions (a multi-objective study whose
    ``metric_names`` are those names).

    Raises:
        ConfigError: a new study whose name already exists in the storage (without ``resume``),
            or ``resume`` of a study that does not exist.
    """
    import optuna

    from sparktf.console import quiet_optuna

    quiet_optuna()
    if isinstance(direction, str):
        directions = [direction]
    else:
        directions = list(direction.values() if isinstance(direction, Mapping) else direction)
    if not directions or any(d not in ("maximize", "minimize") for d in directions):
        raise ConfigError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
    if resume:
        try:
            return optuna.load_study(
                study_name=study_name,
                storage=make_storage(storage),
                sampler=sampler,
                pruner=pruner,
            )
        except KeyError:
            raise ConfigError(
                f"cannot resume: no study {study_name!r} in {storage}; start it without --resume"
            ) from None
    try:
        return create_study(make_storage(storage), study_name, direction, sampler, pruner)
    except optuna.exceptions.DuplicatedStudyError:
        raise ConfigError(
            f"a study named {study_name!r} already exists in {storage}; continue it with "
            "--resume or choose another --out/--study-name"
        ) from None


def create_study(
    storage: optuna.storages.BaseStorage,
    study_name: str,
    direction: str | Sequence[str] | Mapping[str, str],
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
) -> optuna.Study:
    """``optuna.create_study`` for one direction, or for a mapping of several objectives'
    names to directions (their names become the study's ``metric_names``)."""
    import optuna

    if isinstance(direction, str):
        return optuna.create_study(
            study_name=study_name,
            storage=storage,
            direction="maximize" if direction == "maximize" else "minimize",
            sampler=sampler,
            pruner=pruner,
        )
    names = list(direction)
    values: list[Any] = list(direction.values()) if isinstance(direction, Mapping) else names
    study = optuna.create_study(
        study_name=study_name, storage=storage, directions=values, sampler=sampler, pruner=pruner
    )
    if isinstance(direction, Mapping):
        import warnings

        with warnings.catch_warnings():  # "experimental" since Optuna 3.2
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)
    return study


def check_storage(url: str) -> None:
    """Check that ``url`` is a database URL Optuna can use and that its database is reachable,
    without creating anything (a SQLite file's folder must exist).

    Raises:
        ConfigError: the URL is malformed, names no installed driver, or cannot be reached.
    """
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    example = "e.g. sqlite:///path/study.db or postgresql://user@host/db"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"--storage {url!r} is not a database URL: expected {example}") from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_path(shown, parsed.database)
        return
    try:
        engine = create_engine(parsed, pool_pre_ping=False)
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigError(
            f"--storage {shown}: no database driver for {parsed.drivername!r} ({exc}); "
            f"install it, or use {example}"
        ) from None
    try:
        with engine.connect():
            pass
    except Exception as exc:  # the driver's own errors: refused, unknown host, bad password
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot reach the database of --storage {shown}: {first}") from None
    finally:
        engine.dispose()


def _check_sqlite_path(shown: str, database: str | None) -> None:
    if not database or database == ":memory:":
        raise ConfigError(
            f"--storage {shown} is an in-memory database, which keeps nothing: name a file, "
            "e.g. sqlite:///path/study.db"
        )
    path = Path(database)
    if path.exists() and not path.is_file():
        raise ConfigError(f"--storage {shown}: {path} is not a file")
    if not path.parent.is_dir():
        raise ConfigError(
            f"--storage {shown}: the folder {path.parent} does not exist; create it first"
        )
