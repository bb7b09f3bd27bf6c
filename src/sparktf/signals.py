"""The orderly stop: SIGINT (Ctrl-C), SIGTERM (what schedulers send) and SIGHUP alike.

The first signal raises :class:`Stopped` (a ``KeyboardInterrupt``) in the main thread, so that
the work in progress stops the way Ctrl-C stops it: running trials cancelled and recorded,
outputs saved. A second signal ends the process at once. The handlers are installed
explicitly: a process that started with SIGINT ignored (a shell's background job, some
schedulers) keeps it ignored in Python unless the program installs its own handler, and a
signal mask inherited from the parent process (exec keeps it) is unblocked the same way.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
_received: list[int] = []  # the stop signals received within the outermost block
_depth = [0]


class Stopped(KeyboardInterrupt):
    """A stop signal arrived: stop in order, then exit with ``128 + signal``.

    Attributes:
        signum: the signal's number.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The process's exit status for this signal (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum

    @property
    def reason(self) -> str:
        """Why the work stopped, in the words the outputs use."""
        if self.signum == signal.SIGINT:
            return "interrupted by the user (Ctrl-C)"
        return f"stopped by {signal.Signals(self.signum).name}"


def exit_code(exc: BaseException) -> int:
    """The exit status for an interruption (130 for a plain KeyboardInterrupt)."""
    return exc.exit_code if isinstance(exc, Stopped) else 130


def _handler(signum: int, frame: FrameType | None) -> None:
    if _received:  # a second signal: stop at once
        os._exit(128 + signum)
    _received.append(signum)
    raise Stopped(signum)


def raise_if_stopped() -> None:
    """Raise :class:`Stopped` again when a stop signal arrived in the current block. For the
    points where work would go on: a library that catches exceptions can lose the one the
    signal raised (Py4J's clean-up after an interrupted call can fail with "Answer from Java
    side is empty", which then replaces it), and the stop must not be lost with it."""
    if _depth[0] and _received:
        raise Stopped(_received[0])


@contextmanager
def orderly_stop() -> Iterator[None]:
    """Within the block, a stop signal raises :class:`Stopped` in the main thread (elsewhere,
    where Python allows no handlers, the block changes nothing). An error that leaves the block
    after a stop signal arrived leaves it as that :class:`Stopped` (its cause the error): the
    stop's own exception was lost on the way (see :func:`raise_if_stopped`). The previous
    handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if not _depth[0]:
        _received.clear()
    previous: dict[int, Any] = {}
    for sig in STOP_SIGNALS:
        previous[sig] = signal.signal(sig, _handler)
    if hasattr(signal, "pthread_sigmask"):  # a mask inherited from the parent blocks them too
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    _depth[0] += 1
    try:
        yield
    except Exception as exc:
        if _received:  # a library lost the stop's KeyboardInterrupt: the stop wins over its error
            raise Stopped(_received[0]) from exc
        raise
    finally:
        _depth[0] -= 1
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
