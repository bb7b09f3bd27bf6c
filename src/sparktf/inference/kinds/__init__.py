"""The model kinds ``sparktf predict`` accepts, one :class:`ModelHandler` each, in a registry.

A handler recognises its kind from what the user named (looking at the file system only),
resolves it on the driver (loads and checks it before any Spark job) and loads it on the
executors (once per Python worker). :func:`recognise` picks the handler for a name,
:func:`handler_for` the one for a :class:`ModelKind`.
"""

from __future__ import annotations

from pathlib import Path

from sparktf.errors import ConfigError
from sparktf.inference.kinds.application import APPLICATIONS, ApplicationHandler, find_application
from sparktf.inference.kinds.base import ModelHandler, ModelKind, ModelSpec, Predictor, Resolved
from sparktf.inference.kinds.graph_def import GraphDefHandler
from sparktf.inference.kinds.keras_file import KerasFileHandler
from sparktf.inference.kinds.mlflow_model import MlflowModelHandler
from sparktf.inference.kinds.run_dir import RunDirHandler
from sparktf.inference.kinds.saved_model import SavedModelHandler
from sparktf.rundir import BEST_MODEL

# in the order they are tried: a directory is a SavedModel before it is a run directory
HANDLERS: tuple[ModelHandler, ...] = (
    MlflowModelHandler(),
    SavedModelHandler(),
    RunDirHandler(),
    KerasFileHandler(),
    GraphDefHandler(),
    ApplicationHandler(),
)
_BY_KIND: dict[ModelKind, ModelHandler] = {h.kind: h for h in HANDLERS}

__all__ = [
    "APPLICATIONS",
    "HANDLERS",
    "ModelHandler",
    "ModelKind",
    "ModelSpec",
    "Predictor",
    "Resolved",
    "find_application",
    "handler_for",
    "recognise",
]


def handler_for(kind: ModelKind) -> ModelHandler:
    """The handler of ``kind``."""
    return _BY_KIND[kind]


def recognise(name: str) -> ModelHandler:
    """The handler of the model ``name`` names; cheap (nothing is loaded), so that a wrong
    name fails before Spark or TensorFlow start.

    Raises:
        ConfigError: nothing by that name, or a file or directory of no known kind.
    """
    path = Path(name).expanduser()
    for handler in HANDLERS:
        if handler.recognises(path, name):
            return handler
    raise ConfigError(_unrecognised(path, name))


_EXPECTED = (
    "expected a .keras/.h5 file, a SavedModel directory, a .pb GraphDef, a sparktf tune run "
    "directory, or a keras.applications name"
)


def _unrecognised(path: Path, name: str) -> str:
    if path.is_dir():
        return (
            f"{path} is a directory but neither a SavedModel (no saved_model.pb) nor a sparktf "
            f"tune run directory (no best/{BEST_MODEL})"
        )
    if path.exists():
        suffix = path.suffix.lower()
        return (
            f"cannot tell what kind of model {name} is from its suffix {suffix or '(none)'}: "
            "expected .keras or .h5 (Keras), .pb (frozen GraphDef), a SavedModel directory, "
            "a tune run directory or a keras.applications name"
        )
    if path.suffix or "/" in name:  # a path, not a name: the application list is no help
        return f"model {name!r} not found: no file or directory {path.absolute()}; {_EXPECTED}"
    return f"model {name!r} not found: {_EXPECTED} ({', '.join(APPLICATIONS)})"
