"""The backends: which one a session gets, and what each says about queueing."""

from __future__ import annotations

import pytest

from sparktf.errors import ConfigError
from sparktf.execution.backends import Dispatch, check_dispatch, make_backend, parse_dispatch
from sparktf.execution.backends.fifo import queue_ahead
from sparktf.spark import is_connect


def test_queue_ahead_only_where_spark_alone_keeps_the_parallelism() -> None:
    assert queue_ahead("false", parallelism=8, slots=8) == 8
    assert queue_ahead(None, parallelism=12, slots=8) == 8
    assert queue_ahead("false", parallelism=4, slots=8) == 0  # Spark would run 8 at once
    assert queue_ahead("true", parallelism=8, slots=8) == 0  # queued jobs would add executors


def test_dispatch_values_are_checked_with_the_choices_named() -> None:
    assert parse_dispatch("slot") is Dispatch.SLOT and parse_dispatch(" Trial ") is Dispatch.TRIAL
    assert parse_dispatch(None) is None
    with pytest.raises(ConfigError, match="--dispatch must be trial or slot, got 'slots'"):
        parse_dispatch("slots")
    with pytest.raises(ConfigError, match="drop --no-channel, or use --dispatch trial"):
        check_dispatch(Dispatch.SLOT, channel=False)


def test_the_session_s_default_backend(spark) -> None:
    backend = make_backend(spark)
    kind = type(backend).__name__
    assert kind == ("SlotBackend" if is_connect(spark) else "ClassicBackend")
    assert backend.slots == 2
    trial = make_backend(spark, Dispatch.TRIAL)
    assert type(trial).__name__ == ("ConnectBackend" if is_connect(spark) else "ClassicBackend")
    assert trial.queue_ahead(2) == 2 and trial.queue_ahead(1) == 0
    assert make_backend(spark, channel=False).queue_ahead(2) == 2  # no channel: per trial
