"""MLflow itself: whether it is installed, importing it (lazily, quietly) and its errors.

MLflow is an optional dependency (``pip install 'sparktf[mlflow]'``); nothing else in sparktf
imports it at module level.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from types import ModuleType

from sparktf.errors import ConfigError

INSTALL_HINT = "pip install 'sparktf[mlflow]'"

# Defaults for MLflow's HTTP client (a user's own settings win): sparktf retries in the
# background itself, and MLflow's default of 7 retries with growing waits would keep one
# request of an unreachable server busy for minutes. Nothing of MLflow's in sparktf's output.
_ENV_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    # a run's URL on stdout (which holds sparktf's results) after each run, and one more
    # request to the server per run to build it
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}
# MLflow error codes of a server that may answer later (any other code is final).
_TRANSIENT_CODES = frozenset(
    {"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED", "ABORTED"}
)
_QUIET_LOGGERS = ("mlflow", "alembic")


def mlflow_installed() -> bool:
    """Whether MLflow can be imported (without importing it)."""
    try:
        return importlib.util.find_spec("mlflow") is not None
    except (ImportError, ValueError):  # an import hook refused it
        return False


def require_mlflow(what: str) -> None:
    """Refuse ``what`` (a flag, a model name) when MLflow is not installed.

    Raises:
        ConfigError: MLflow is missing; the message says how to install it.
    """
    if not mlflow_installed():
        raise ConfigError(f"{what} needs MLflow, which is not installed: {INSTALL_HINT}")


def import_mlflow() -> ModuleType:
    """Import MLflow with sparktf's client defaults; its logs are silenced unless --verbose.

    Raises:
        ConfigError: MLflow is not installed.
    """
    require_mlflow("MLflow tracking")
    for key, value in _ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    import mlflow

    from sparktf.console import is_verbose

    if not is_verbose():  # MLflow sets its logger's level when imported: set it afterwards
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
    return mlflow


def is_transient(exc: BaseException) -> bool:
    """Whether a failed MLflow call may succeed later (server down, overloaded, network),
    rather than being refused for good (invalid value, missing run, no permission)."""
    code = getattr(exc, "error_code", None)
    if code is None:  # not an MlflowException: the network, a file system
        return isinstance(exc, (OSError, TimeoutError)) or "Connection" in type(exc).__name__
    return code in _TRANSIENT_CODES


def error_text(exc: BaseException) -> str:
    """One line about a failed MLflow call."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
