"""Model loading: Keras files, SavedModels, frozen GraphDefs, tune run directories and the
``keras.applications`` ImageNet models by name.

The driver resolves what the user named into a :class:`ModelSpec` (what it is, how inputs must
be prepared, how many classes it answers, which file travels to the executors and its SHA-256),
loading the model once to check tensor names, input shape and label count before any Spark job
starts (a ``keras.applications`` model is not built there when its weights file has the model's
weight shapes). Executors turn the same spec into a :class:`Predictor` with
:func:`load_predictor`. Each kind is one handler in :mod:`sparktf.inference.kinds`.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from pathlib import Path

import numpy as np

from sparktf.errors import ConfigError
from sparktf.inference.config import PredictConfig
from sparktf.inference.kinds import handler_for, recognise
from sparktf.inference.kinds.application import APPLICATIONS, Application, find_application
from sparktf.inference.kinds.base import ModelKind, ModelSpec, Predictor, Resolved
from sparktf.inference.kinds.predictors import FunctionPredictor, KerasPredictor
from sparktf.inference.kinds.saved_model import extract_model_zip, zip_directory
from sparktf.inference.labels import read_labels

__all__ = [
    "APPLICATIONS",
    "Application",
    "FunctionPredictor",
    "KerasPredictor",
    "ModelKind",
    "ModelSpec",
    "Predictor",
    "extract_model_zip",
    "find_application",
    "load_predictor",
    "resolve_model",
    "sha256_file",
    "zip_directory",
]


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_predictor(spec: ModelSpec, path: str | None) -> Predictor:
    """Load the model ``spec`` describes from ``path`` (the shipped file) on this process.

    Args:
        spec: the model's description.
        path: the local copy of ``spec.path`` (from ``SparkFiles.get`` on executors).

    Returns:
        A predictor.

    Raises:
        ConfigError: the file's SHA-256 differs from the driver's (a corrupt or stale copy).
    """
    if spec.sha256 is not None:
        got = sha256_file(path) if path is not None else "(no file)"
        if got != spec.sha256:
            raise ConfigError(
                f"model file {path} has SHA-256 {got}, but the driver shipped {spec.sha256}: "
                "the copy is corrupt or stale; run again"
            )
    return handler_for(spec.kind).load(spec, path)


def _probe(pred: Predictor, spec: ModelSpec) -> int:
    """Run the model once on a blank image; return the length of its output vector."""
    from PIL import Image

    from sparktf.imaging import to_batch

    try:
        if pred.takes_bytes:
            buf = io.BytesIO()
            Image.new("RGB", (32, 32), (128, 128, 128)).save(buf, "JPEG")
            out = pred([buf.getvalue()])
        else:
            blank = np.full(spec.image.shape, 128, np.uint8)
            out = pred(to_batch([blank], spec.image))
    except ConfigError:
        raise
    except Exception as exc:
        what = (
            "one encoded JPEG image"
            if pred.takes_bytes
            else f"a blank {'x'.join(map(str, spec.image.shape))} image"
        )
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"model {spec.source} failed on {what}: {first}. Check --input-size, --channels "
            "and the tensor names"
        ) from exc
    return int(np.asarray(out).reshape(1, -1).shape[1])


def _labels(found: Resolved, n: int, cfg: PredictConfig, source: str) -> tuple[str, ...]:
    """The label file's labels, else the model's own, else the class indices; one per class.

    Raises:
        ConfigError: the labels are not one per class.
    """
    labels, where = found.labels, found.labels_where
    if cfg.labels:
        labels, where = read_labels(cfg.labels), f"label file {cfg.labels}"
    if labels is None:
        return tuple(str(i) for i in range(n))
    if len(labels) != n:
        raise ConfigError(
            f"{where} has {len(labels)} labels but model {source} answers {n} classes: expected "
            f"one label per class in class-index order ({n} lines)"
        )
    return labels


def _spec(kind: ModelKind, name: str, found: Resolved, cfg: PredictConfig) -> ModelSpec:
    """The spec of a resolved model, its class count and labels still to be filled in."""
    ship = found.ship
    sha = sha256_file(ship) if ship is not None else None
    pred = found.predictor
    return ModelSpec(
        kind=kind,
        source=name,
        path=str(ship) if ship is not None else None,
        sha256=sha,
        ship_name=f"{sha[:16]}-{ship.name}" if ship is not None and sha else None,
        image=found.image,
        num_classes=0,
        labels=(),
        input_tensor=found.input_tensor,
        output_tensor=found.output_tensor,
        signature=cfg.signature,
        application=found.application,
        safe_mode=cfg.safe_mode,
        takes_bytes=pred is not None and pred.takes_bytes,
        bytes_batched=bool(getattr(pred, "bytes_batched", False)),
    )


def resolve_model(model: str | Path, cfg: PredictConfig, stage_dir: Path) -> ModelSpec:
    """Work out what ``model`` names, check it here and describe it for the executors.

    A model file is loaded and run once on a blank image (tensor names, input shape, class
    count). A ``keras.applications`` model is not run: its classes are the 1000 ImageNet
    classes, and a weights file is checked against the model's weight shapes.

    Args:
        model: a ``.keras``/``.h5`` file, a SavedModel directory, a ``.pb`` GraphDef, a tune
            run directory (or its ``best/``), or a ``keras.applications`` name.
        cfg: the run's settings (tensor names, weights, labels, input overrides, ...).
        stage_dir: a directory for files made here to ship (SavedModel zip, weights).

    Returns:
        The spec.

    Raises:
        ConfigError: missing or unloadable model, wrong tensor name, label count mismatch,
            unknown input size.
    """
    name = str(model)
    handler = recognise(name)
    found = handler.resolve(name, Path(name).expanduser(), cfg, stage_dir)
    spec = _spec(handler.kind, name, found, cfg)
    # an application answers its 1000 ImageNet classes by construction: no probe run
    pred = found.predictor
    n = _probe(pred, spec) if pred is not None else len(found.labels or ())
    return replace(spec, num_classes=n, labels=_labels(found, n, cfg, name))
