"""sparktf's uses of Optuna's private API (search/optuna_compat.py) on the installed Optuna."""

from __future__ import annotations

from pathlib import Path

import optuna
from sqlalchemy import event

from sparktf.search.optuna_compat import set_trial_attrs, sqlite_engine, trial_id_of
from sparktf.search.study import make_storage


def test_a_trial_s_attributes_are_written_in_one_transaction(tmp_path: Path) -> None:
    """The fast path holds on the installed Optuna (a version it skips writes one transaction
    per attribute, a dozen per trial in a study's SQLite file)."""
    study = optuna.create_study(storage=make_storage(f"sqlite:///{tmp_path / 's.db'}"))
    trial = study.ask()
    engine = sqlite_engine(study)
    commits: list[object] = []
    event.listen(engine, "commit", commits.append)
    attrs = {"a": 1, "b": "two", "c": [3.0], "d": None}
    set_trial_attrs(study, trial_id_of(trial), attrs)
    set_trial_attrs(study, trial_id_of(trial), {"s": 1}, system=True)
    assert len(commits) == 2
    frozen = study.get_trials()[0]
    assert frozen.user_attrs == attrs and frozen.system_attrs["s"] == 1
