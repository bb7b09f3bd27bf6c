"""The time left of a progress display: at the pace since the display started, so trials that
end together do not turn hours into seconds, and a resumed study's earlier trials do not count
as this run's pace."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from rich.progress import Progress

from sparktf.console import plain_line, time_left
from sparktf.tuning.config import TuneConfig
from sparktf.tuning.display import Display


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_two_trials_that_end_together_leave_the_pace_of_the_whole_run() -> None:
    clock = Clock()
    bar = Progress(get_time=clock, disable=True)
    task = bar.add_task("tune", total=10, status="")
    assert time_left(bar.tasks[0]) is None  # nothing done yet: unknown, and no "left" shown
    assert "left" not in plain_line(bar.tasks[0])
    clock.now += 3600.0  # two parallel trials of an hour, ending a second apart
    bar.update(task, completed=1)
    clock.now += 1.0
    bar.update(task, completed=2)
    assert time_left(bar.tasks[0]) == pytest.approx(3601.0 * 8 / 2)  # four more hours
    assert "4:00:04 left" in plain_line(bar.tasks[0])
    bar.update(task, completed=10)
    assert time_left(bar.tasks[0]) is None and "left" not in plain_line(bar.tasks[0])


def test_a_resumed_study_s_earlier_trials_are_not_this_run_s_pace(tmp_path: Path) -> None:
    cfg = TuneConfig(
        objective="m:f",
        objective_kind="function",
        space={"x": {"type": "uniform", "low": 0, "high": 1}},
        out=str(tmp_path / "r"),
    )
    study = optuna.create_study()
    for x in range(6):  # finished by the run that was stopped
        study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=float(x)))

    class Idle:
        def active(self) -> int:
            return 0

    display = Display(cfg, 16, enabled=True)
    with display:
        display.update(study, Idle())
        task = display.bar.tasks[0]
        assert (task.completed, task.fields["done_at_start"]) == (6, 6)
        assert time_left(task) is None  # nothing done by this run yet
        study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=0.5))
        study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=0.5))
        display.update(study, Idle())
        task = display.bar.tasks[0]
        assert task.completed == 8
        before, left, after = task.elapsed, time_left(task), task.elapsed
        assert left is not None and before * 8 / 2 <= left <= after * 8 / 2  # 8 to go, 2 done
