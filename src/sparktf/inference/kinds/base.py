"""What every model kind shares: the spec the executors get, the loaded predictor, and the
:class:`ModelHandler` interface each kind implements (recognise, resolve, load)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sparktf.errors import ConfigError
from sparktf.imaging import ImageSpec
from sparktf.inference.config import PredictConfig


class ModelKind(str, Enum):
    """What kind of model a :class:`ModelSpec` loads (one :class:`ModelHandler` each)."""

    KERAS = "keras"
    SAVED_MODEL = "saved_model"
    GRAPH_DEF = "graph_def"
    RUN_DIR = "run_dir"
    APPLICATION = "application"
    MLFLOW = "mlflow"


@dataclass(frozen=True)
class ModelSpec:
    """Everything the executors need to load and feed a model; built on the driver.

    Attributes:
        kind: Keras file, SavedModel, GraphDef, tune run directory or ``keras.applications``.
        source: what the user named (path or application name).
        path: the local file that travels to the executors (a zip for a SavedModel
            directory, the weights for an application), or ``None``.
        sha256: that file's SHA-256, checked on every executor before loading.
        ship_name: the file's name among Spark's files (``SparkFiles.get``).
        input_tensor: GraphDef tensor name or SavedModel input key.
        output_tensor: GraphDef tensor name or SavedModel output key.
        signature: the SavedModel signature.
        application: the ``keras.applications`` constructor, for applications.
        safe_mode: Keras ``safe_mode`` when loading ``.keras`` files.
        takes_bytes: the model takes encoded image bytes (it decodes them itself).
        bytes_batched: such a model takes a batch (rank-1 string tensor), not one image.
        image: how images become the model's input (ignored when ``takes_bytes``).
        num_classes: length of the model's output vector.
        labels: one label per class.
    """

    kind: ModelKind
    source: str
    path: str | None
    sha256: str | None
    ship_name: str | None
    image: ImageSpec
    num_classes: int
    labels: tuple[str, ...]
    input_tensor: str | None = None
    output_tensor: str | None = None
    signature: str | None = None
    application: str | None = None
    safe_mode: bool = True
    takes_bytes: bool = False
    bytes_batched: bool = False

    @property
    def cache_key(self) -> str:
        """Identifies a loaded model in a worker's cache (file hash + how it is loaded)."""
        return "|".join(
            str(x)
            for x in (
                self.kind.value,
                self.sha256,
                self.source if self.sha256 is None else "",
                self.input_tensor,
                self.output_tensor,
                self.signature,
                self.application,
                self.safe_mode,
                self.image.shape if self.kind is ModelKind.APPLICATION else "",
            )
        )


class Predictor(Protocol):
    """A loaded model: float batches in (or encoded images), class scores out."""

    takes_bytes: bool

    def __call__(self, batch: Any) -> np.ndarray:
        """Scores of shape ``(n, num_classes)`` for a float batch or a list of encoded images."""
        ...


@dataclass(frozen=True)
class Resolved:
    """What a handler found out on the driver about the model the user named.

    Attributes:
        image: how images become the model's input.
        ship: the file that travels to the executors, or ``None``.
        predictor: the model loaded here, run once on a blank image to count its classes;
            ``None`` when the class count is known without running it (``labels``).
        labels: the model's own labels (run directory, ImageNet), or ``None``.
        labels_where: where ``labels`` come from, for messages.
        input_tensor: GraphDef/SavedModel input name the executors use.
        output_tensor: GraphDef/SavedModel output name the executors use.
        application: the ``keras.applications`` constructor.
    """

    image: ImageSpec
    ship: Path | None
    predictor: Predictor | None = None
    labels: tuple[str, ...] | None = None
    labels_where: str = ""
    input_tensor: str | None = None
    output_tensor: str | None = None
    application: str | None = None


class ModelHandler(Protocol):
    """One kind of model: how the driver recognises and checks it, how executors load it."""

    kind: ModelKind

    def recognises(self, path: Path, name: str) -> bool:
        """Whether ``name`` (``path`` once expanded) is a model of this kind; cheap: it looks
        at the file system only, loading nothing."""
        ...

    def resolve(self, name: str, path: Path, cfg: PredictConfig, stage_dir: Path) -> Resolved:
        """Load and check the model on the driver (before any Spark job).

        Raises:
            ConfigError: the model cannot be loaded or does not fit the settings.
        """
        ...

    def load(self, spec: ModelSpec, path: str | None) -> Predictor:
        """Load the model on an executor from ``path``, the local copy of ``spec.path``."""
        ...


def load_or_config_error(what: str, source: str, load: Any, hint: str = "") -> Any:
    """``load()``, any failure becoming a :class:`ConfigError` naming ``source`` and ``what``
    it was loaded as."""
    try:
        return load()
    except ConfigError:
        raise
    except Exception as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        if "safe_mode" in text:
            hint = (
                " The file contains code (a Lambda layer): load it only if you trust it, "
                "with --unsafe."
            )
        raise ConfigError(f"cannot load {source} as {what}: {text[:500]}.{hint}") from exc


def image_spec(
    cfg: PredictConfig,
    shape: tuple[Any, ...] | None,
    source: str,
    scale: float | None = None,
    preprocess: str | None = None,
) -> ImageSpec:
    """Input size/channels/scale: flags win over the model's own (or its run directory's).

    Raises:
        ConfigError: the size is not fixed and not given, or the channels are neither 1 nor 3.
    """
    h = w = c = None
    if shape is not None and len(shape) == 3:
        h, w, c = shape
    elif shape is not None and len(shape) == 2:
        h, w = shape
        c = 1
    if cfg.input_size is not None:
        h, w = cfg.input_size
    if cfg.channels is not None:
        c = cfg.channels
    if not h or not w:
        raise ConfigError(
            f"the input size of {source} is not fixed (input shape {shape}): "
            "give it with --input-size HEIGHTxWIDTH"
        )
    if c not in (1, 3):
        raise ConfigError(
            f"{source} takes {c} channels per pixel; sparktf feeds grayscale (1) or RGB (3) "
            "images (force one with --channels if the model accepts it)"
        )
    return ImageSpec(
        height=int(h),
        width=int(w),
        channels=int(c),
        scale=cfg.scale if cfg.scale is not None else (scale if scale is not None else 1 / 255),
        offset=cfg.offset,
        interpolation=cfg.interpolation,
        preprocess=None if (cfg.scale is not None) else preprocess,
        max_pixels=cfg.max_pixels,
    )


def function_image_spec(
    cfg: PredictConfig, takes_bytes: bool, shape: tuple[Any, ...] | None, source: str
) -> ImageSpec:
    """:func:`image_spec` of a TensorFlow function's input; for a function that decodes
    encoded images itself, only the decode guard and the interpolation matter."""
    if takes_bytes:
        return ImageSpec(1, 1, 3, interpolation=cfg.interpolation, max_pixels=cfg.max_pixels)
    return image_spec(cfg, shape, source)


def shipped(spec: ModelSpec, path: str | None) -> str:
    """``path``, the executor's copy of the model's file, which every file-based kind needs.

    Raises:
        ConfigError: Spark gave the executor no copy.
    """
    if path is None:
        raise ConfigError(f"model {spec.source}: this executor got no copy of {spec.path}")
    return path
