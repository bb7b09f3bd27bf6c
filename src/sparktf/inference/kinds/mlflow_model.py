"""MLflow models of the Keras flavour: ``models:/NAME/VERSION``, ``models:/NAME@ALIAS``,
``runs:/RUN_ID/PATH`` or a local MLflow model directory (one holding ``MLmodel``).

The driver fetches the model from the tracking server (``$MLFLOW_TRACKING_URI``) and ships
its Keras file: executors need neither MLflow nor access to the server, and load the file
once per Python worker like any Keras file. The input shape, pixel scale and class names come
from ``data/preprocessing.json`` when sparktf logged the model (``sparktf tune --mlflow``),
else from the model and the flags.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sparktf.errors import ConfigError
from sparktf.inference.config import PredictConfig
from sparktf.inference.kinds.base import ModelKind, ModelSpec, Predictor, Resolved
from sparktf.inference.kinds.keras_file import KerasFileHandler
from sparktf.inference.kinds.run_dir import RunDirHandler
from sparktf.rundir import BEST_MODEL

URI_PREFIXES = ("models:/", "runs:/")
MLMODEL = "MLmodel"
KERAS_FLAVOUR = "keras"


def _fetch(name: str, stage_dir: Path) -> Path:
    """Download the model ``name`` (a ``models:/`` or ``runs:/`` URI) into ``stage_dir``.

    Raises:
        ConfigError: MLflow is missing, or the model cannot be fetched.
    """
    from sparktf.tracking.mlflow_lib import error_text, import_mlflow, require_mlflow

    require_mlflow(f"model {name}")
    mlflow = import_mlflow()
    target = stage_dir / f"mlflow-{hashlib.sha256(name.encode()).hexdigest()[:16]}"
    target.mkdir(parents=True, exist_ok=True)
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=name, dst_path=str(target))
    except Exception as exc:
        raise ConfigError(
            f"cannot fetch model {name} from MLflow at {mlflow.get_tracking_uri()}: "
            f"{error_text(exc)} (the tracking server comes from $MLFLOW_TRACKING_URI)"
        ) from exc
    return Path(local)


def keras_data_dir(model_dir: Path, name: str) -> Path:
    """The directory of an MLflow model's Keras file (``data/``, holding ``model.keras``).

    Raises:
        ConfigError: not an MLflow model, a flavour other than Keras, or a Keras model saved
            as an exported SavedModel.
    """
    import yaml

    mlmodel = model_dir / MLMODEL
    try:
        flavours = dict(yaml.safe_load(mlmodel.read_text()).get("flavors") or {})
    except (OSError, AttributeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{name} is not an MLflow model: cannot read {mlmodel}: {exc}") from exc
    keras: Any = flavours.get(KERAS_FLAVOUR)
    if not isinstance(keras, dict):
        found = ", ".join(sorted(flavours)) or "none"
        raise ConfigError(
            f"{name} is an MLflow model of flavour(s) {found}; sparktf predict runs the "
            f"{KERAS_FLAVOUR} flavour (log the model with mlflow.keras.log_model, or tune it "
            "with 'sparktf tune --mlflow')"
        )
    data = model_dir / str(keras.get("data", "data"))
    if keras.get("save_exported_model"):
        raise ConfigError(
            f"{name} was logged with save_exported_model=True (a TensorFlow SavedModel export); "
            f"sparktf predict runs Keras files: use --model {data / 'model'} (a SavedModel)"
        )
    if not (data / BEST_MODEL).is_file():
        found = ", ".join(sorted(p.name for p in data.iterdir())) if data.is_dir() else "nothing"
        raise ConfigError(
            f"{name}: the Keras flavour's {BEST_MODEL} is missing from {data} (found {found}); "
            "log the model again with a current MLflow (Keras 3 format)"
        )
    return data


class MlflowModelHandler:
    """An MLflow model URI or directory; its Keras file is shipped and loaded like one."""

    kind = ModelKind.MLFLOW

    def recognises(self, path: Path, name: str) -> bool:
        """A ``models:/`` or ``runs:/`` URI, or a directory with an ``MLmodel`` file."""
        return name.startswith(URI_PREFIXES) or (path.is_dir() and (path / MLMODEL).is_file())

    def resolve(self, name: str, path: Path, cfg: PredictConfig, stage_dir: Path) -> Resolved:
        """Fetch the model (URIs), check its flavour, and resolve its Keras file with the
        preprocessing sparktf logged beside it."""
        local = _fetch(name, stage_dir) if name.startswith(URI_PREFIXES) else path
        return RunDirHandler().resolve(name, keras_data_dir(local, name), cfg, stage_dir)

    def load(self, spec: ModelSpec, path: str | None) -> Predictor:
        """Load the shipped Keras file."""
        return KerasFileHandler().load(spec, path)
