"""TensorFlow SavedModel directories: one signature, one image input, the class scores out.

The directory travels zipped (reproducibly: same tree, same hash) and is unpacked once per
machine on the executors."""

from __future__ import annotations

import shutil
import tempfile
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
    function_image_spec,
    load_or_config_error,
    shipped,
)
from sparktf.inference.kinds.predictors import FunctionPredictor, tensor_input


def zip_directory(directory: Path, target: Path) -> Path:
    """Zip a directory reproducibly (sorted entries, fixed timestamps): same tree, same hash."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zf:
        for p in sorted(directory.rglob("*")):
            if p.is_file():
                info = zipfile.ZipInfo(str(p.relative_to(directory)), (1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                zf.writestr(info, p.read_bytes())
    return target


def extract_model_zip(path: str, sha256: str) -> str:
    """Unpack a shipped SavedModel zip once per machine, safe against the other Python workers
    doing the same at the same moment: each unpacks into its own directory and renames it into
    place; the loser of that race uses the winner's copy."""
    base = Path(tempfile.gettempdir()) / "sparktf-models"
    target = base / sha256
    if (target / ".complete").is_file():
        return str(target)
    base.mkdir(parents=True, exist_ok=True)
    mine = Path(tempfile.mkdtemp(prefix=f"{sha256[:16]}-", dir=base))
    with zipfile.ZipFile(path) as zf:
        zf.extractall(mine)
    (mine / ".complete").write_text("")
    try:
        mine.rename(target)
    except OSError:  # another worker got there first (or left a broken copy: keep ours)
        if not (target / ".complete").is_file():
            return str(mine)
        shutil.rmtree(mine, ignore_errors=True)
    return str(target)


def _signature(loaded: Any, directory: str, signature: str | None) -> tuple[str, Any]:
    """The chosen signature's name and function (default ``serving_default``, or the only one)."""
    sigs = dict(loaded.signatures)
    name = signature or ("serving_default" if "serving_default" in sigs else None)
    if name is None and len(sigs) == 1:
        name = next(iter(sigs))
    if name is None or name not in sigs:
        raise ConfigError(
            f"SavedModel {directory} has no signature {name!r}: it has "
            f"{', '.join(sigs) or 'none'} (choose one with --signature)"
        )
    return name, sigs[name]


def _input_key(inputs: dict[str, Any], key: str | None, name: str, directory: str) -> str:
    if key is None:
        if len(inputs) != 1:
            raise ConfigError(
                f"signature {name!r} of {directory} takes {len(inputs)} inputs "
                f"({', '.join(inputs)}): name the image input with --input-tensor"
            )
        return next(iter(inputs))
    key = key.split(":")[0]
    if key not in inputs:
        raise ConfigError(
            f"--input-tensor {key!r} is not an input of signature {name!r}: expected one "
            f"of {', '.join(inputs)}"
        )
    return key


def _output_key(outputs: dict[str, Any], key: str | None, name: str, directory: str) -> str | None:
    if key is not None:
        key = key.split(":")[0]
        if key not in outputs:
            raise ConfigError(
                f"--output-tensor {key!r} is not an output of signature {name!r}: "
                f"expected one of {', '.join(outputs)}"
            )
    elif len(outputs) > 1:
        raise ConfigError(
            f"signature {name!r} of {directory} has {len(outputs)} outputs "
            f"({', '.join(outputs)}): choose the class scores with --output-tensor"
        )
    return key


def load_saved_model(
    directory: str, signature: str | None, input_key: str | None, output_key: str | None
) -> FunctionPredictor:
    """Load a SavedModel and pick its signature, image input and score output.

    Raises:
        ConfigError: no such signature, input or output, or an ambiguous one.
    """
    import tensorflow as tf

    loaded = tf.saved_model.load(directory)
    name, fn = _signature(loaded, directory, signature)
    inputs = fn.structured_input_signature[1]
    key = _input_key(inputs, input_key, name, directory)
    out_key = _output_key(fn.structured_outputs, output_key, name, directory)

    def call(x: Any) -> Any:
        return fn(**{key: x})

    return tensor_input(call, inputs[key], out_key)


class SavedModelHandler:
    """A SavedModel directory (with ``saved_model.pb``)."""

    kind = ModelKind.SAVED_MODEL

    def recognises(self, path: Path, name: str) -> bool:
        """A directory holding ``saved_model.pb``."""
        return path.is_dir() and (path / "saved_model.pb").is_file()

    def resolve(self, name: str, path: Path, cfg: PredictConfig, stage_dir: Path) -> Resolved:
        """Load it (signature, input and output names) and zip it for the executors."""
        pred = load_or_config_error(
            "a SavedModel",
            name,
            lambda: load_saved_model(str(path), cfg.signature, cfg.input_tensor, cfg.output_tensor),
        )
        image = function_image_spec(cfg, pred.takes_bytes, pred.image_shape, name)
        ship = zip_directory(path, stage_dir / f"{path.resolve().name or 'saved_model'}.zip")
        return Resolved(
            image=image,
            ship=ship,
            predictor=pred,
            input_tensor=cfg.input_tensor,
            output_tensor=cfg.output_tensor,
        )

    def load(self, spec: ModelSpec, path: str | None) -> Predictor:
        """Unpack the shipped zip once per machine and load it."""
        local = shipped(spec, path)
        directory = (
            extract_model_zip(local, spec.sha256)
            if spec.sha256 is not None and zipfile.is_zipfile(local)
            else local
        )
        return load_saved_model(directory, spec.signature, spec.input_tensor, spec.output_tensor)
