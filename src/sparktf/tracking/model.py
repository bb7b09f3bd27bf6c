"""The best model of a study as an MLflow model (Keras flavour), and registering it.

The MLflow model directory is what ``mlflow.keras.save_model`` writes (``MLmodel``,
``data/model.keras``, environment files, an input example), with sparktf's preprocessing in
two places: the ``MLmodel`` metadata under ``sparktf`` (for people and the MLflow UI) and
``data/preprocessing.json`` next to the Keras file, where ``sparktf predict`` reads it as it
reads a run directory's ``best/``.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparktf.fileio import write_json
from sparktf.rundir import BEST_MODEL, PREPROCESSING
from sparktf.tracking.mlflow_lib import import_mlflow

MODEL_ARTIFACT = "model"  # the model's path among the parent run's artifacts
METADATA_KEY = "sparktf"


@dataclass(frozen=True)
class LoggedModel:
    """Where the best model went.

    Attributes:
        uri: ``runs:/RUN_ID/model``.
        version: its registered version, when it was registered.
    """

    uri: str
    version: str | None = None


def save_mlflow_model(best: Path, target: Path, extra: dict[str, Any]) -> None:
    """Write the MLflow model of ``best/`` (its Keras file and preprocessing) into the new
    directory ``target``: signature from the model's input and output shapes, a blank input
    example, sparktf's preprocessing (and ``extra``) as metadata.

    Raises:
        Exception: the Keras file cannot be loaded (as Keras raises it).
    """
    import numpy as np

    import_mlflow()
    import mlflow.keras
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    from sparktf.keras.saving import load_keras

    model = load_keras(str(best / BEST_MODEL), safe_mode=True)
    prep = _preprocessing(best)
    shape = tuple(int(d) for d in (prep.get("input_shape") or model.input_shape[1:]))
    outputs = int(model.output_shape[-1])
    f32 = np.dtype("float32")
    signature = ModelSignature(
        inputs=Schema([TensorSpec(f32, (-1, *shape))]),
        outputs=Schema([TensorSpec(f32, (-1, outputs))]),
    )
    target.mkdir(parents=True)
    mlflow.keras.save_model(
        model,
        str(target),
        signature=signature,
        input_example=np.zeros((1, *shape), np.float32),
        # the defaults, without MLflow's inference (a subprocess that loads the model again)
        pip_requirements=mlflow.keras.get_default_pip_requirements(),
        metadata={METADATA_KEY: {**prep, **extra}},
    )
    write_json(target / "data" / PREPROCESSING, prep)


def _preprocessing(best: Path) -> dict[str, Any]:
    p = best / PREPROCESSING
    data = json.loads(p.read_text()) if p.is_file() else {}
    return data if isinstance(data, dict) else {}


def log_best_model(
    client: Any, run_id: str, best: Path, extra: dict[str, Any], register: str | None
) -> LoggedModel:
    """Log ``best/`` as the MLflow model ``runs:/RUN_ID/model`` and, with ``register``, make
    it a new version of that registered model (created when missing)."""
    with tempfile.TemporaryDirectory(prefix="sparktf-mlflow-") as tmp:
        local = Path(tmp) / MODEL_ARTIFACT
        save_mlflow_model(best, local, extra)
        client.log_artifacts(run_id, str(local), MODEL_ARTIFACT)
    uri = f"runs:/{run_id}/{MODEL_ARTIFACT}"
    if register is None:
        return LoggedModel(uri)
    return LoggedModel(uri, register_version(client, register, uri, run_id))


def register_version(client: Any, name: str, source: str, run_id: str) -> str:
    """A new version of the registered model ``name`` (created when missing) for ``source``."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    version = client.create_model_version(name, source, run_id=run_id)
    return str(version.version)
