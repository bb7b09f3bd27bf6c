"""The dispatch loop's reaction to what trials say over the report channel."""

from __future__ import annotations

from concurrent.futures import wait
from typing import Any

import optuna
import pytest

from sparktf.execution.backends import make_backend
from sparktf.execution.dispatcher import Dispatcher
from sparktf.execution.runner import Objective, ObjectiveKind
from sparktf.execution.settings import DispatchSettings
from sparktf.signals import Stopped, orderly_stop
from tests.execution.stops import lose_a_stop_signal


def _settings(**changes: Any) -> DispatchSettings:
    settings: dict[str, Any] = {
        "trials": 2,
        "parallelism": 1,
        "metric": "value",
        "direction": "minimize",
        "monitor": "val_loss",
        "max_retries": 0,
        "trial_timeout": 2.0,
        "timeout": None,
        "val_fraction": 0.1,
        "channel": True,
        "channel_advertise": None,
    }
    return DispatchSettings(**{**settings, **changes})


def test_a_start_report_wakes_the_dispatch_loop(spark) -> None:
    """A trial that holds its slot but has not said it started gets one more --trial-timeout
    (it may still wait in Spark's queue); its start report sets its real deadline, which can
    be sooner than the one the loop sleeps until. So the report wakes the loop (a timed-out
    trial that started second on its slot was cancelled a whole --trial-timeout late)."""
    settings = _settings()
    objective = Objective(ObjectiveKind.FUNCTION, "abs", fn=abs, takes_data=False)
    study = optuna.create_study()
    loop = Dispatcher(make_backend(spark), study, dict, objective, None, settings, print, print)
    sleeping_on = loop._wake  # what the loop's next wait includes
    assert not sleeping_on.done()
    loop._on_start(1, 1)  # (a channel thread)
    done, _ = wait([sleeping_on], timeout=60)
    assert done and list(loop.starts) == [(1, 1, loop.starts[0][2])]
    loop._on_start(2, 1)  # a second report before the loop ran: queued, no error
    assert [s[:2] for s in loop.starts] == [(1, 1), (2, 1)]


def test_a_stop_signal_that_a_library_lost_still_ends_the_dispatch_loop(spark) -> None:
    objective = Objective(ObjectiveKind.FUNCTION, "abs", fn=abs, takes_data=False)
    lost: list[bool] = []

    def on_slots() -> None:  # (the main thread, between two waits of the loop)
        if not lost:
            lost.append(True)
            lose_a_stop_signal()

    study = optuna.create_study()
    settings = _settings(trials=3, channel=False)
    loop = Dispatcher(
        make_backend(spark),
        study,
        lambda trial: {},
        objective,
        None,
        settings,
        print,
        print,
        on_slots=on_slots,
    )
    with pytest.raises(Stopped), orderly_stop():
        loop.run()
    assert lost and len(study.trials) < 3
