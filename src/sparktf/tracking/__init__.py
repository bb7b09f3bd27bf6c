"""MLflow, as sparktf uses it: the optional import, background logging, the best model.

What inference needs (an MLflow model's kind) and what the study's MLflow observer
(:mod:`sparktf.tuning.tracking`, ``sparktf tune --mlflow``) builds on. MLflow is optional
(``pip install 'sparktf[mlflow]'``) and imported only when used.
"""

from sparktf.tracking.background import BackgroundLog, Gap
from sparktf.tracking.mlflow_lib import INSTALL_HINT, mlflow_installed, require_mlflow
from sparktf.tracking.model import METADATA_KEY, MODEL_ARTIFACT, LoggedModel, save_mlflow_model

__all__ = [
    "INSTALL_HINT",
    "METADATA_KEY",
    "MODEL_ARTIFACT",
    "BackgroundLog",
    "Gap",
    "LoggedModel",
    "mlflow_installed",
    "require_mlflow",
    "save_mlflow_model",
]
