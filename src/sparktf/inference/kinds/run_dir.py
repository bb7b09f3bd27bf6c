"""A ``sparktf tune`` run directory (or its ``best/``): the best model, with the input shape,
pixel scale and class names the run trained it with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sparktf.errors import ConfigError
from sparktf.inference.config import PredictConfig
from sparktf.inference.kinds.base import ModelKind, ModelSpec, Predictor, Resolved, image_spec
from sparktf.inference.kinds.keras_file import KerasFileHandler, resolve_keras_model
from sparktf.rundir import BEST_MODEL, PREPROCESSING, RunDir


def read_preprocessing(directory: Path) -> dict[str, Any]:
    """The run's ``preprocessing.json`` (empty when there is none).

    Raises:
        ConfigError: it is unreadable or not a JSON object.
    """
    p = directory / PREPROCESSING
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{p} is unreadable or not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{p} must hold a JSON object with input_shape, scale, class_names")
    return data


class RunDirHandler:
    """A tune run directory with ``best/model.keras``, or that ``best/`` directory itself."""

    kind = ModelKind.RUN_DIR

    def recognises(self, path: Path, name: str) -> bool:
        """A directory holding the best model (in ``best/`` or directly)."""
        return path.is_dir() and (
            (path / "best" / BEST_MODEL).is_file() or (path / BEST_MODEL).is_file()
        )

    def resolve(self, name: str, path: Path, cfg: PredictConfig, stage_dir: Path) -> Resolved:
        """Load the best model; the run's preprocessing fills in what the flags do not give."""
        best = RunDir(path).best if (path / "best" / BEST_MODEL).is_file() else path
        prep = read_preprocessing(best)
        ship = best / BEST_MODEL
        predictor, model = resolve_keras_model(ship, str(ship), cfg)
        shape = tuple(prep.get("input_shape") or model.input_shape[1:])
        image = image_spec(cfg, shape, name, scale=prep.get("scale"))
        labels = None
        if prep.get("class_names"):
            labels = tuple(str(x) for x in prep["class_names"])
        return Resolved(
            image=image,
            ship=ship,
            predictor=predictor,
            labels=labels,
            labels_where=str(best / PREPROCESSING) if labels else "",
        )

    def load(self, spec: ModelSpec, path: str | None) -> Predictor:
        """Load the shipped best model (a Keras file)."""
        return KerasFileHandler().load(spec, path)
