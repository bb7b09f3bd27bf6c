"""Every use of Optuna's private API, in one place, guarded by Optuna's version.

sparktf needs a study's storage and a trial's storage id (Optuna exposes neither publicly) to
mirror an in-memory study into its real storage, to mark trials that a lost driver left
running, and to write a trial's attributes in one transaction. The storage methods themselves
(``set_trial_user_attr``, ``create_new_trial``, ...) are Optuna's documented storage interface.
Tested with Optuna 4.x and 5.x; on another major version the one-transaction fast path is skipped
and the documented per-attribute calls are used.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

TESTED_MAJORS = (4, 5)


@functools.cache
def _tested_version() -> bool:
    import optuna

    return int(optuna.__version__.split(".")[0]) in TESTED_MAJORS


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage a study reads and writes."""
    return study._storage


def study_id_of(study: optuna.Study) -> int:
    """The study's id in its storage."""
    return study._study_id


def trial_id_of(trial: optuna.Trial | optuna.trial.FrozenTrial) -> int:
    """A trial's id in its study's storage (not its number)."""
    return trial._trial_id


def frozen_copy(study: optuna.Study, trial: optuna.Trial) -> optuna.trial.FrozenTrial:
    """A deep copy of a running trial's current state (params, reports, attributes)."""
    import copy

    return copy.deepcopy(storage_of(study).get_trial(trial_id_of(trial)))


def set_trial_attrs(
    study: optuna.Study, trial_id: int, attrs: Mapping[str, Any], system: bool = False
) -> None:
    """Set several user (or system) attributes of a trial in one transaction where the
    storage allows it (Optuna's RDB storage writes one transaction per attribute otherwise)."""
    if not attrs:
        return
    storage = storage_of(study)
    backend = getattr(storage, "_backend", storage)
    write = getattr(backend, "_set_trial_attr_without_commit", None)
    session_of = getattr(backend, "scoped_session", None)
    if write is None or session_of is None or not _tested_version():
        setter = storage.set_trial_system_attr if system else storage.set_trial_user_attr
        for key, value in attrs.items():
            setter(trial_id, key, value)
        return
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    model = models.TrialSystemAttributeModel if system else models.TrialUserAttributeModel
    with _create_scoped_session(session_of, True) as session:
        for key, value in attrs.items():
            write(session, model, trial_id, key, value)


def sqlite_engine(study: optuna.Study) -> Any:
    """The SQLAlchemy engine of a study stored in SQLite, else None."""
    storage = storage_of(study)
    engine = getattr(getattr(storage, "_backend", storage), "engine", None)
    if engine is None or engine.dialect.name != "sqlite":
        return None
    return engine
