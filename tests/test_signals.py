"""The orderly stop (sparktf.signals), with real signals sent to this process."""

from __future__ import annotations

import signal

import pytest

from sparktf.signals import Stopped, orderly_stop
from tests.execution.stops import lose_a_stop_signal


def test_an_error_after_a_lost_stop_signal_leaves_the_block_as_the_stop() -> None:
    """Ctrl-C whose KeyboardInterrupt a library lost, then that library's own error: the
    command ends as stopped (exit 130), not with the error."""
    with pytest.raises(Stopped) as stopped, orderly_stop():
        lose_a_stop_signal()
        raise RuntimeError("Answer from Java side is empty")
    assert stopped.value.signum == signal.SIGINT and stopped.value.exit_code == 130
    assert isinstance(stopped.value.__cause__, RuntimeError)


def test_an_error_without_a_stop_signal_leaves_the_block_unchanged() -> None:
    with pytest.raises(ValueError, match="bad input"), orderly_stop():
        raise ValueError("bad input")
