"""Exception hierarchy of sparktf.

Every error sparktf raises on purpose derives from :class:`SparkTFError`. The CLI maps them to
exit codes: :class:`ConfigError` (bad user input) exits with 2, every other fatal error with 1.
:class:`TrialFailed` is the one error that is *not* fatal: the trial is recorded as failed and the
study goes on.
"""

from __future__ import annotations


class SparkTFError(Exception):
    """Root of all sparktf errors (fatal unless stated otherwise)."""

    exit_code: int = 1


class ConfigError(SparkTFError):
    """The user gave an invalid flag, file, search space or configuration."""

    exit_code = 2


class DataError(SparkTFError):
    """A data file is missing, truncated or malformed."""


class JavaNotFoundError(SparkTFError):
    """No Java runtime usable by Spark could be found."""


class SparkSetupError(SparkTFError):
    """Spark could not be started with the given master or configuration."""


class StudyFailed(SparkTFError):
    """No trial of a study completed: every one failed (the message shows the first error), or
    the study stopped before any finished."""


class TrialFailed(SparkTFError):
    """Raise it in an objective to fail that trial with a reason (no traceback is kept unless
    given); the study records the trial as FAILED and keeps going. Any other exception of an
    objective fails its trial the same way, with its traceback.

    Attributes:
        reason: a one-line reason.
        traceback_text: the executor-side traceback, as text, when there is one.
    """

    def __init__(self, reason: str, traceback_text: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.traceback_text = traceback_text


class TrialPruned(SparkTFError):
    """Raised by :func:`sparktf.trial.report` when the driver stops a hopeless trial.

    Let it propagate out of the objective: the trial is recorded as PRUNED with its curve.
    """
