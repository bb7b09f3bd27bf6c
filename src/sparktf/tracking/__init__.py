"""Experiment tracking: a study in MLflow (``sparktf tune --mlflow``) and its best model.

MLflow is optional (``pip install 'sparktf[mlflow]'``) and imported only when used.
"""

from sparktf.tracking.background import BackgroundLog, Gap
from sparktf.tracking.mlflow_lib import INSTALL_HINT, mlflow_installed, require_mlflow
from sparktf.tracking.model import METADATA_KEY, MODEL_ARTIFACT, LoggedModel, save_mlflow_model
from sparktf.tracking.study import MlflowTracker, NoTracking, track_study

__all__ = [
    "INSTALL_HINT",
    "METADATA_KEY",
    "MODEL_ARTIFACT",
    "BackgroundLog",
    "Gap",
    "LoggedModel",
    "MlflowTracker",
    "NoTracking",
    "mlflow_installed",
    "require_mlflow",
    "save_mlflow_model",
    "track_study",
]
