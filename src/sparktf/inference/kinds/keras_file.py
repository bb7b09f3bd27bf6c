"""Keras model files: ``.keras`` (zip archive) and legacy ``.h5``/``.hdf5`` (HDF5)."""

from __future__ import annotations

import zipfile
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

SUFFIXES = (".keras", ".h5", ".hdf5")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def load_keras(path: str, safe_mode: bool) -> Any:
    """Load a Keras model file without compiling it."""
    import keras

    return keras.saving.load_model(path, compile=False, safe_mode=safe_mode)


def describe_file(path: Path) -> str:
    """What a file looks like, for messages: empty, a zip archive, HDF5, text or binary."""
    size = path.stat().st_size
    if size == 0:
        return "an empty file"
    with path.open("rb") as fh:
        head = fh.read(256)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        return f"a zip archive of {len(names)} entries ({shown or 'none'})"
    if head.startswith(_HDF5_MAGIC):
        return "an HDF5 file"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"{size} bytes of binary data starting {head[:8].hex(' ')}"
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"a text file of {size} bytes starting {first[:60]!r}"


def check_keras_file(path: Path, name: str) -> None:
    """Refuse, with what was expected and what was found, a file that cannot be a Keras model
    file: a ``.keras`` file must be a zip archive holding ``config.json``; an ``.h5`` file must
    be HDF5.

    Raises:
        ConfigError: the file's content does not match its suffix.
    """
    if path.suffix.lower() == ".keras":
        expected = "a .keras zip archive with config.json inside (as written by model.save)"
        ok = zipfile.is_zipfile(path)
        if ok:
            with zipfile.ZipFile(path) as zf:
                ok = "config.json" in zf.namelist()
    else:
        import h5py

        expected = "an HDF5 file (as written by model.save('model.h5'))"
        ok = h5py.is_hdf5(str(path))
    if not ok:
        raise ConfigError(
            f"{name} is not a valid Keras file: expected {expected}, found "
            f"{describe_file(path)}. Check the path, or save the model again with "
            "model.save('model.keras')"
        )


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
