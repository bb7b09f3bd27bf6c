"""A stop signal lost by a library, as the stop tests make one."""

from __future__ import annotations

import signal


def lose_a_stop_signal() -> None:
    """Ctrl-C, whose KeyboardInterrupt a library's exception handling then loses (Py4J's
    clean-up after an interrupted call can fail and replace it with its own error)."""
    try:
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            raise RuntimeError("Answer from Java side is empty") from None
    except RuntimeError:
        pass
