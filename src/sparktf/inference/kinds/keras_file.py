"""Keras model files: ``.keras`` (zip archive) and legacy ``.h5``/``.hdf5`` (HDF5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sparktf.errors import ConfigError
from sparktf.inference.config import PredictConfig
from sparktf.inference.kinds.base import (
    ModelKind,
    ModelSpec,
    Predictor,
    Resolved,
    image_spec,
    load_or_config_error,
    shipped,
)
from sparktf.inference.kinds.predictors import KerasPredictor
from sparktf.keras.saving import check_keras_file, load_keras

SUFFIXES = (".keras", ".h5", ".hdf5")


def resolve_keras_model(
    model_path: Path, name: str, cfg: PredictConfig, hint: str = ""
) -> tuple[KerasPredictor, Any]:
    """Check and load a Keras model file on the driver; return its predictor and the model.

    Raises:
        ConfigError: not a Keras file, unloadable, or more than one input.
    """
    check_keras_file(model_path, name)
    model = load_or_config_error(
        "a Keras model", name, lambda: load_keras(str(model_path), cfg.safe_mode), hint
    )
    if isinstance(model.input_shape, list):
        raise ConfigError(
            f"{name} has {len(model.input_shape)} inputs; sparktf predict feeds "
            "models with one image input"
        )
    return KerasPredictor(model), model


class KerasFileHandler:
    """A ``.keras`` or ``.h5`` model file."""

    kind = ModelKind.KERAS

    def recognises(self, path: Path, name: str) -> bool:
        """A file with a Keras suffix."""
        return path.is_file() and path.suffix.lower() in SUFFIXES

    def resolve(self, name: str, path: Path, cfg: PredictConfig, stage_dir: Path) -> Resolved:
        """Check the file is a Keras model with one input; it travels as it is."""
        hint = (
            " If it holds only weights of a keras.applications model, use "
            "--model NAME --weights FILE."
            if path.suffix.lower() != ".keras"
            else ""
        )
        predictor, model = resolve_keras_model(path, name, cfg, hint)
        image = image_spec(cfg, tuple(model.input_shape[1:]), name)
        return Resolved(image=image, ship=path, predictor=predictor)

    def load(self, spec: ModelSpec, path: str | None) -> Predictor:
        """Load the shipped file."""
        return KerasPredictor(load_keras(shipped(spec, path), spec.safe_mode))
