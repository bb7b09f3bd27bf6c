"""How a study's trials run on Spark: one interface, :class:`Backend`, and its implementations.

- ``classic``: one Spark job per attempt over a SparkContext (job groups, a broadcast, jobs
  queued ahead in Spark's FIFO queue);
- ``connect``: one DataFrame query per attempt (session tags, a file artifact): Spark Connect;
- ``slots``: one long-lived task per slot that asks the driver for its next trial over the
  report channel (the default on Spark Connect: no query, no planning per trial).

:func:`make_backend` picks one for a session; adding a backend is one module here.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from sparktf.errors import ConfigError
from sparktf.execution.backends.base import Backend, Job, Submit
from sparktf.execution.backends.session import SessionJobs, channel_host, session_jobs

__all__ = [
    "Backend",
    "Dispatch",
    "Job",
    "SessionJobs",
    "Submit",
    "channel_host",
    "check_dispatch",
    "make_backend",
    "parse_dispatch",
    "session_jobs",
]


class Dispatch(str, Enum):
    """How trials are handed to Spark (``--dispatch``)."""

    TRIAL = "trial"  # one Spark job or query per attempt
    SLOT = "slot"  # long-lived slot tasks ask the driver for their next trial


def parse_dispatch(value: str | Dispatch | None) -> Dispatch | None:
    """``--dispatch``'s value (None: the session's default).

    Raises:
        ConfigError: not one of the choices.
    """
    if value is None or isinstance(value, Dispatch):
        return value
    try:
        return Dispatch(str(value).strip().lower())
    except ValueError:
        choices = " or ".join(d.value for d in Dispatch)
        raise ConfigError(f"--dispatch must be {choices}, got {value!r}") from None


def check_dispatch(dispatch: Dispatch | None, channel: bool) -> None:
    """Refuse what cannot run, before Spark starts.

    Raises:
        ConfigError: slot mode without a report channel.
    """
    if dispatch is Dispatch.SLOT and not channel:
        raise ConfigError(
            "--dispatch slot hands trials out over the report channel: drop --no-channel, "
            "or use --dispatch trial"
        )


def make_backend(spark: Any, dispatch: Dispatch | None = None, channel: bool = True) -> Backend:
    """The backend for ``spark``: per-trial jobs on a classic session; slot mode on Spark
    Connect when the trials have a report channel (else one query per trial); ``dispatch``
    chooses.

    Raises:
        ConfigError: slot mode without a report channel.
    """
    from sparktf.spark import is_connect

    check_dispatch(dispatch, channel)
    connect = is_connect(spark)
    if dispatch is Dispatch.SLOT or (dispatch is None and connect and channel):
        from sparktf.execution.backends.slots import SlotBackend

        return SlotBackend(spark, required=dispatch is Dispatch.SLOT)
    if connect:
        from sparktf.execution.backends.connect import ConnectBackend

        return ConnectBackend(spark)
    from sparktf.execution.backends.classic import ClassicBackend

    return ClassicBackend(spark)
