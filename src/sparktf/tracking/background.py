"""Jobs run in order on one background thread, retried, so that the caller never waits.

A job that fails is tried again (``attempts`` times, with growing pauses). A job that still
fails with an error that may pass (:func:`is_transient`: the server is down or overloaded)
stays at the head of the line: the log is *down*, and while it is down it probes the
server with that job every ``probe_s`` seconds; the first success brings it back up and the
jobs waiting behind it run in order. A job refused for good is dropped. :meth:`close` waits
for the line to empty (a down log gets one last probe) and returns what was not done, once.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sparktf.tracking.mlflow_lib import error_text, is_transient

Job = Callable[[], None]


@dataclass(frozen=True)
class Gap:
    """What a :class:`BackgroundLog` could not do.

    Attributes:
        items: the names of the jobs not done, in order.
        error: the last error, one line.
    """

    items: tuple[str, ...]
    error: str


class BackgroundLog:
    """Runs posted jobs in order on a daemon thread; see the module docstring.

    Args:
        name: the thread's name.
        attempts: tries of a job before the log counts as down (at least 1).
        backoff_s: pause after the first failed try (doubled after each next one).
        probe_s: while down, seconds between two probes.
    """

    def __init__(
        self, name: str, attempts: int = 3, backoff_s: float = 0.5, probe_s: float = 5.0
    ) -> None:
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.probe_s = probe_s
        self._pending: collections.deque[tuple[str, Job]] = collections.deque()
        self._dropped: list[str] = []
        self._error = ""
        self._down = False
        self._probe_at = 0.0
        self._closing = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    @property
    def down(self) -> bool:
        """True while the last try of the head job failed with a transient error."""
        return self._down

    def post(self, what: str, job: Job) -> None:
        """Queue ``job`` (named ``what`` in a :class:`Gap`); returns at once."""
        with self._cond:
            self._pending.append((what, job))
            self._cond.notify()

    def close(self, timeout_s: float) -> Gap | None:
        """Run what is queued (at most ``timeout_s`` seconds; a down log gets one last
        probe) and stop. Returns what was not done, or None when everything was."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout_s)
        with self._cond:
            self._closing = True
            items = (*self._dropped, *(what for what, _ in self._pending))
            self._pending.clear()  # a thread still in a request stops after it
            return Gap(items, self._error) if items else None

    # -- the thread -------------------------------------------------------------------------

    def _next(self) -> tuple[str, Job] | None:
        """The head job once it is due (at once when up, at the next probe when down, at
        once for a last probe when closing); None when closing with nothing left."""
        with self._cond:
            while True:
                if self._closing and not self._pending:
                    return None
                due = not self._down or self._closing or time.monotonic() >= self._probe_at
                if self._pending and due:
                    return self._pending[0]
                wait = self._probe_at - time.monotonic() if self._down and self._pending else None
                self._cond.wait(None if wait is None else max(wait, 0.0))

    def _loop(self) -> None:
        while (item := self._next()) is not None:
            closing, probing = self._closing, self._down
            ok, transient = self._run(item[1], 1 if probing else self.attempts)
            with self._cond:
                if not self._pending or self._pending[0] is not item:
                    return  # close() gave up on it
                if ok or not transient:
                    self._pending.popleft()
                    self._down = False
                    if not ok:
                        self._dropped.append(item[0])
                    continue
                self._down = True
                self._probe_at = time.monotonic() + self.probe_s
                if closing:  # the last probe failed: close() reports the rest
                    return

    def _run(self, job: Job, attempts: int) -> tuple[bool, bool]:
        """(succeeded, the last error was transient)."""
        pause = self.backoff_s
        for attempt in range(attempts):
            try:
                job()
            except Exception as exc:
                self._error = error_text(exc)
                if not is_transient(exc):
                    return False, False
                if attempt + 1 < attempts:
                    time.sleep(pause)
                    pause *= 2
            else:
                return True, False
        return False, True
