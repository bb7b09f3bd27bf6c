"""The in-memory study and its background writer (Optuna only; no Spark)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from sparktf.search.mirror import MirroredStudy
from sparktf.search.study import open_study


def _opener(url: str, name: str = "s"):  # type: ignore[no-untyped-def]
    def create() -> optuna.Study:
        return open_study(
            url,
            name,
            "minimize",
            optuna.samplers.RandomSampler(seed=1),
            optuna.pruners.NopPruner(),
            resume=False,
        )

    return create


def _fresh(url: str) -> MirroredStudy:
    """A new study named "s" that the writer creates in ``url``."""
    return MirroredStudy.fresh(
        _opener(url),
        "s",
        "minimize",
        optuna.samplers.RandomSampler(seed=1),
        optuna.pruners.NopPruner(),
    )


def _run(study: optuna.Study, mirror: MirroredStudy, n: int) -> None:
    for _ in range(n):
        trial = study.ask()
        x = trial.suggest_float("x", 0, 1) if "x" not in trial.params else trial.params["x"]
        mirror.started(trial)
        trial.set_user_attr("note", f"trial {trial.number}")
        trial.report(x, 1)
        study.tell(trial, x)
        mirror.finished(trial)


def test_fresh_study_is_created_by_the_writer_with_enqueued_trials(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    mirror = _fresh(url)
    mirror.enqueue({"x": 0.25})
    mirror.enqueue({"x": 0.75})
    _run(mirror.study, mirror, 4)
    assert mirror.close() == []

    saved = optuna.load_study(study_name="s", storage=url)
    trials = saved.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 4
    assert [t.params["x"] for t in trials[:2]] == [0.25, 0.75]  # the enqueued ones, in order
    assert [t.value for t in trials] == [t.value for t in mirror.study.get_trials()]
    assert [t.user_attrs["note"] for t in trials] == [f"trial {i}" for i in range(4)]
    assert all(t.intermediate_values == {1: t.value} for t in trials)


def test_enqueued_trials_that_never_ran_stay_waiting_in_the_storage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    mirror = _fresh(url)
    for x in (0.1, 0.2, 0.3):
        mirror.enqueue({"x": x})
    _run(mirror.study, mirror, 1)
    assert mirror.close() == []
    states = [t.state for t in optuna.load_study(study_name="s", storage=url).get_trials()]
    assert states == [optuna.trial.TrialState.COMPLETE] + [optuna.trial.TrialState.WAITING] * 2


def test_a_storage_that_cannot_be_created_is_reported_and_the_study_goes_on(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the database's folder should be")
    url = f"sqlite:///{blocker / 'study.db'}"
    mirror = _fresh(url)
    mirror.enqueue({"x": 0.5})
    _run(mirror.study, mirror, 3)  # the in-memory study is unaffected
    errors = mirror.close()
    assert len(errors) == 1, errors
    assert "could not create the study's storage" in errors[0]
    assert len(mirror.study.get_trials()) == 3


def test_an_existing_study_is_copied_and_continued(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    first = _fresh(url)
    _run(first.study, first, 2)
    assert first.close() == []
    persistent = optuna.load_study(study_name="s", storage=url)
    again = MirroredStudy(
        persistent, optuna.samplers.RandomSampler(seed=2), optuna.pruners.NopPruner()
    )
    assert len(again.study.get_trials()) == 2
    _run(again.study, again, 2)
    assert again.close() == []
    assert len(optuna.load_study(study_name="s", storage=url).get_trials()) == 4


def test_creating_a_study_that_exists_is_refused_up_front(tmp_path: Path) -> None:
    from sparktf.errors import ConfigError

    url = f"sqlite:///{tmp_path / 'study.db'}"
    _opener(url)()
    with pytest.raises(ConfigError, match="already exists"):
        _opener(url)()
