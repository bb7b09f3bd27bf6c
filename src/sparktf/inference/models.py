"""Model loading: Keras files, SavedModels, frozen GraphDefs, tune run directories and the
``keras.applications`` ImageNet models by name.

The driver resolves what the user named into a :class:`ModelSpec` (what it is, how inputs must
be prepared, how many classes it answers, which file travels to the executors and its SHA-256),
loading the model once to check tensor names, input shape and label count before any Spark job
starts (a ``keras.applications`` model is not built there when its weights file has the model's
weight shapes). Executors turn the same spec into a :class:`Predictor` with
:func:`load_predictor`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sparktf.errors import ConfigError
from sparktf.inference.config import PredictConfig
from sparktf.inference.images import ImageSpec
from sparktf.inference.labels import imagenet_labels, read_labels
from sparktf.rundir import BEST_MODEL, PREPROCESSING, RunDir


class ModelKind(str, Enum):
    """What kind of model a :class:`ModelSpec` loads."""

    KERAS = "keras"
    SAVED_MODEL = "saved_model"
    GRAPH_DEF = "graph_def"
    APPLICATION = "application"


@dataclass(frozen=True)
class Application:
    """A ``keras.applications`` ImageNet model.

    Attributes:
        constructor: the class-like function in ``keras.applications`` (``MobileNetV2``).
        module: the submodule whose ``preprocess_input`` prepares its inputs.
        size: its default input height = width.
    """

    constructor: str
    module: str
    size: int


def _apps() -> dict[str, Application]:
    table: list[tuple[str, str, str, int]] = [
        ("xception", "Xception", "xception", 299),
        ("vgg16", "VGG16", "vgg16", 224),
        ("vgg19", "VGG19", "vgg19", 224),
        ("resnet50", "ResNet50", "resnet", 224),
        ("resnet101", "ResNet101", "resnet", 224),
        ("resnet152", "ResNet152", "resnet", 224),
        ("resnet50_v2", "ResNet50V2", "resnet_v2", 224),
        ("resnet101_v2", "ResNet101V2", "resnet_v2", 224),
        ("resnet152_v2", "ResNet152V2", "resnet_v2", 224),
        ("inception_v3", "InceptionV3", "inception_v3", 299),
        ("inception_resnet_v2", "InceptionResNetV2", "inception_resnet_v2", 299),
        ("mobilenet", "MobileNet", "mobilenet", 224),
        ("mobilenet_v2", "MobileNetV2", "mobilenet_v2", 224),
        ("mobilenet_v3_small", "MobileNetV3Small", "mobilenet_v3", 224),
        ("mobilenet_v3_large", "MobileNetV3Large", "mobilenet_v3", 224),
        ("densenet121", "DenseNet121", "densenet", 224),
        ("densenet169", "DenseNet169", "densenet", 224),
        ("densenet201", "DenseNet201", "densenet", 224),
        ("nasnet_mobile", "NASNetMobile", "nasnet", 224),
        ("nasnet_large", "NASNetLarge", "nasnet", 331),
        ("convnext_tiny", "ConvNeXtTiny", "convnext", 224),
        ("convnext_small", "ConvNeXtSmall", "convnext", 224),
        ("convnext_base", "ConvNeXtBase", "convnext", 224),
        ("convnext_large", "ConvNeXtLarge", "convnext", 224),
    ]
    for i, size in enumerate((224, 240, 260, 300, 380, 456, 528, 600)):
        table.append((f"efficientnet_b{i}", f"EfficientNetB{i}", "efficientnet", size))
    for suffix, size in (("b0", 224), ("b1", 240), ("b2", 260), ("b3", 300), ("s", 384)):
        table.append(
            (
                f"efficientnet_v2_{suffix}",
                f"EfficientNetV2{suffix.upper()}",
                "efficientnet_v2",
                size,
            )
        )
    return {name: Application(ctor, module, size) for name, ctor, module, size in table}


APPLICATIONS: dict[str, Application] = _apps()


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def find_application(name: str) -> tuple[str, Application] | None:
    """Look up a ``keras.applications`` model by name (``mobilenet_v2``, ``MobileNetV2``)."""
    key = _norm(name)
    for snake, app in APPLICATIONS.items():
        if key in (_norm(snake), _norm(app.constructor)):
            return snake, app
    return None


@dataclass(frozen=True)
class ModelSpec:
    """Everything the executors need to load and feed a model; built on the driver.

    Attributes:
        kind: Keras file, SavedModel, GraphDef or ``keras.applications`` model.
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


class KerasPredictor:
    """A Keras model fed float batches."""

    takes_bytes = False

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, batch: Any) -> np.ndarray:
        out = self.model.predict_on_batch(batch)
        if isinstance(out, (list, tuple)):
            out = out[0]
        if isinstance(out, dict):
            out = next(iter(out.values()))
        return np.asarray(out).reshape(len(batch), -1)


class FunctionPredictor:
    """A TensorFlow function (pruned GraphDef or SavedModel signature) with one input."""

    def __init__(self, fn: Any, takes_bytes: bool, bytes_batched: bool, output_key: str | None):
        self.fn = fn
        self.takes_bytes = takes_bytes
        self.bytes_batched = bytes_batched
        self.output_key = output_key

    def _run(self, value: Any) -> np.ndarray:
        import tensorflow as tf

        out = self.fn(tf.constant(value))
        if isinstance(out, dict):
            out = out[self.output_key] if self.output_key else next(iter(out.values()))
        if isinstance(out, (list, tuple)):
            out = out[0]
        return np.asarray(out)

    def __call__(self, batch: Any) -> np.ndarray:
        if not self.takes_bytes or self.bytes_batched:
            return self._run(batch).reshape(len(batch), -1)
        return np.stack([self._run(item).reshape(-1) for item in batch])


# ---------------------------------------------------------------------------------------------
# Loading (driver and executors)


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def zip_directory(directory: Path, target: Path) -> Path:
    """Zip a directory reproducibly (sorted entries, fixed timestamps): same tree, same hash."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zf:
        for p in sorted(directory.rglob("*")):
            if p.is_file():
                info = zipfile.ZipInfo(str(p.relative_to(directory)), (1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                zf.writestr(info, p.read_bytes())
    return target


def _load_keras(path: str, safe_mode: bool) -> Any:
    import keras

    return keras.saving.load_model(path, compile=False, safe_mode=safe_mode)


def _load_graph_def(path: str, input_name: str, output_name: str) -> FunctionPredictor:
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    with open(path, "rb") as fh:
        graph_def.ParseFromString(fh.read())
    wrapped = tf.compat.v1.wrap_function(
        lambda: tf.compat.v1.import_graph_def(graph_def, name=""), []
    )
    graph = wrapped.graph
    tensors = []
    for flag, name in (("--input-tensor", input_name), ("--output-tensor", output_name)):
        try:
            tensors.append(graph.get_tensor_by_name(name))
        except (KeyError, ValueError) as exc:
            placeholders = [
                op.name + ":0"
                for op in graph.get_operations()
                if op.type in ("Placeholder", "PlaceholderWithDefault")
            ]
            last = [op.name + ":0" for op in graph.get_operations()[-3:]]
            raise ConfigError(
                f"{flag} {name!r} is not a tensor of the graph {path}: {exc}. "
                f"Expected a name like 'op_name:0'; the graph's placeholders are "
                f"{', '.join(placeholders) or 'none'} and its last operations "
                f"{', '.join(last)}"
            ) from exc
    inp, out = tensors
    takes_bytes = inp.dtype == tf.string
    batched = takes_bytes and inp.shape.rank is not None and inp.shape.rank >= 1
    fn = wrapped.prune(inp, out)
    pred = FunctionPredictor(fn, takes_bytes, batched, None)
    pred.input_shape = tuple(inp.shape.as_list()) if inp.shape.rank is not None else None  # type: ignore[attr-defined]
    return pred


def _load_saved_model(
    directory: str, signature: str | None, input_key: str | None, output_key: str | None
) -> FunctionPredictor:
    import tensorflow as tf

    loaded = tf.saved_model.load(directory)
    sigs = dict(loaded.signatures)
    name = signature or ("serving_default" if "serving_default" in sigs else None)
    if name is None and len(sigs) == 1:
        name = next(iter(sigs))
    if name not in sigs:
        raise ConfigError(
            f"SavedModel {directory} has no signature {name!r}: it has "
            f"{', '.join(sigs) or 'none'} (choose one with --signature)"
        )
    fn = sigs[name]
    inputs = fn.structured_input_signature[1]
    outputs = fn.structured_outputs
    if input_key is None:
        if len(inputs) != 1:
            raise ConfigError(
                f"signature {name!r} of {directory} takes {len(inputs)} inputs "
                f"({', '.join(inputs)}): name the image input with --input-tensor"
            )
        input_key = next(iter(inputs))
    input_key = input_key.split(":")[0]
    if input_key not in inputs:
        raise ConfigError(
            f"--input-tensor {input_key!r} is not an input of signature {name!r}: expected one "
            f"of {', '.join(inputs)}"
        )
    if output_key is not None:
        output_key = output_key.split(":")[0]
        if output_key not in outputs:
            raise ConfigError(
                f"--output-tensor {output_key!r} is not an output of signature {name!r}: "
                f"expected one of {', '.join(outputs)}"
            )
    elif len(outputs) > 1:
        raise ConfigError(
            f"signature {name!r} of {directory} has {len(outputs)} outputs "
            f"({', '.join(outputs)}): choose the class scores with --output-tensor"
        )
    spec = inputs[input_key]
    key = input_key

    def call(x: Any) -> Any:
        return fn(**{key: x})

    takes_bytes = spec.dtype == tf.string
    batched = takes_bytes and spec.shape.rank is not None and spec.shape.rank >= 1
    pred = FunctionPredictor(call, takes_bytes, batched, output_key)
    pred.input_shape = tuple(spec.shape.as_list()) if spec.shape.rank is not None else None  # type: ignore[attr-defined]
    pred.input_dtype = spec.dtype  # type: ignore[attr-defined]
    return pred


def _build_application(app: Application, weights: str | None, shape: tuple[int, int, int]) -> Any:
    import keras

    ctor = getattr(keras.applications, app.constructor)
    kwargs: dict[str, Any] = {"weights": weights, "classes": 1000}
    if shape != (app.size, app.size, 3):
        kwargs["input_shape"] = shape
    return ctor(**kwargs)


def _build_or_config_error(
    app: Application, weights: str | None, shape: tuple[int, int, int], source: str, hint: str = ""
) -> Any:
    """:func:`_build_application`, a failure becoming a :class:`ConfigError` that names it."""
    what = f"keras.applications.{app.constructor}"
    if weights not in (None, "imagenet"):
        what += f" with weights {weights}"
    return _load_or_config_error(
        what, source, lambda: _build_application(app, weights, shape), hint
    )


def _h5_weight_shapes(path: str) -> list[list[int]]:
    """The shapes of every tensor in an HDF5 weights file, sorted (Keras 3 ``.weights.h5`` and
    the legacy ``.h5`` files that ``keras.applications`` downloads alike)."""
    import h5py

    shapes: list[list[int]] = []

    def visit(_: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            shapes.append(list(obj.shape))

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return sorted(shapes)


def _application_weight_shapes(
    app: Application, shape: tuple[int, int, int], source: str
) -> list[list[int]]:
    """The sorted shapes of the weights of ``app`` built for ``shape`` (cached on disk per
    Keras version: building a large application takes seconds of driver time per call)."""
    import keras
    from sparktf.datasets.mnist import cache_dir

    name = f"{app.constructor}-{'x'.join(map(str, shape))}-keras{keras.__version__}.json"
    cached = cache_dir() / "applications" / name
    try:
        data = json.loads(cached.read_text())
        if isinstance(data, list) and all(isinstance(s, list) for s in data):
            return data
    except (OSError, ValueError):
        pass
    model = _build_or_config_error(app, None, shape, source)
    shapes = sorted(list(w.shape) for w in model.weights)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(shapes))
        tmp.replace(cached)
    except OSError:  # a read-only cache only costs time
        pass
    return shapes


def _check_application_weights(
    app: Application, shape: tuple[int, int, int], weights: str, source: str
) -> None:
    """Check on the driver, without building the model where possible, that ``weights`` is
    a weights file of ``app``: its tensors must have the model's weight shapes. Where they
    do not (or the file has more in it), the model is built and loads the file, so that Keras
    decides and its own message explains a refusal."""
    try:
        got = _h5_weight_shapes(weights)
    except Exception as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(
            f"--weights {weights}: not a readable HDF5 weights file ({text[:300]}); expected "
            f"the .h5 weights of {app.constructor} from keras.applications or model.save_weights"
        ) from exc
    if got == _application_weight_shapes(app, shape, source):
        return
    import warnings

    hint = f" Is it a weights file of {app.constructor} at input size {shape[0]}x{shape[1]}?"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _build_or_config_error(app, weights, shape, source, hint)
    skipped = [str(w.message) for w in caught if "freshly-initialized" in str(w.message)]
    if skipped:  # Keras loaded only part of the file
        raise ConfigError(
            f"cannot load {source} with weights {weights}: {len(skipped)} parts of the model "
            f"found no weights in the file ({skipped[0][:200]}).{hint}"
        )


def extract_model_zip(path: str, sha256: str) -> str:
    """Unpack a shipped SavedModel zip once per machine, safe against the other Python workers
    doing the same at the same moment: each unpacks into its own directory and renames it into
    place; the loser of that race uses the winner's copy."""
    import shutil
    import tempfile

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
        assert path is not None
        got = sha256_file(path)
        if got != spec.sha256:
            raise ConfigError(
                f"model file {path} has SHA-256 {got}, but the driver shipped {spec.sha256}: "
                "the copy is corrupt or stale; run again"
            )
    if spec.kind is ModelKind.KERAS:
        assert path is not None
        return KerasPredictor(_load_keras(path, spec.safe_mode))
    if spec.kind is ModelKind.APPLICATION:
        assert spec.application is not None
        found = find_application(spec.application)
        assert found is not None
        model = _build_application(found[1], None, spec.image.shape)
        if path is not None:
            model.load_weights(path)
        return KerasPredictor(model)
    if spec.kind is ModelKind.GRAPH_DEF:
        assert path is not None and spec.input_tensor and spec.output_tensor
        return _load_graph_def(path, spec.input_tensor, spec.output_tensor)
    assert path is not None and spec.sha256 is not None
    directory = extract_model_zip(path, spec.sha256) if zipfile.is_zipfile(path) else path
    return _load_saved_model(directory, spec.signature, spec.input_tensor, spec.output_tensor)


# ---------------------------------------------------------------------------------------------
# Resolving what the user named (driver)


def _read_preprocessing(directory: Path) -> dict[str, Any]:
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


def _image_spec(
    cfg: PredictConfig,
    shape: tuple[Any, ...] | None,
    scale: float | None,
    source: str,
    preprocess: str | None = None,
) -> ImageSpec:
    """Input size/channels/scale: flags win over the model's own (or its run directory's)."""
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


def _probe(pred: Predictor, spec: ModelSpec) -> int:
    """Run the model once on a blank image; return the length of its output vector."""
    from PIL import Image

    from sparktf.inference.images import to_batch

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


def _check_labels(labels: tuple[str, ...], n: int, source: str, where: str) -> tuple[str, ...]:
    if len(labels) != n:
        raise ConfigError(
            f"{where} has {len(labels)} labels but model {source} answers {n} classes: expected "
            f"one label per class in class-index order ({n} lines)"
        )
    return labels


def _load_or_config_error(what: str, source: str, load: Any, hint: str = "") -> Any:
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
    p = Path(name).expanduser()
    labels: tuple[str, ...] | None = None
    labels_where = ""
    scale: float | None = None
    preprocess: str | None = None
    shape: tuple[Any, ...] | None
    application: str | None = None
    input_tensor = output_tensor = None
    kind: ModelKind
    ship: Path | None
    pred: Predictor | None

    if p.is_dir() and (p / "saved_model.pb").is_file():
        kind = ModelKind.SAVED_MODEL
        pred = _load_or_config_error(
            "a SavedModel",
            name,
            lambda: _load_saved_model(str(p), cfg.signature, cfg.input_tensor, cfg.output_tensor),
        )
        shape = getattr(pred, "input_shape", None)
        shape = tuple(shape[1:]) if shape and not pred.takes_bytes else None
        ship = zip_directory(p, stage_dir / f"{p.resolve().name or 'saved_model'}.zip")
        input_tensor, output_tensor = cfg.input_tensor, cfg.output_tensor
    elif p.is_dir() and ((p / "best" / BEST_MODEL).is_file() or (p / BEST_MODEL).is_file()):
        best = RunDir(p).best if (p / "best" / BEST_MODEL).is_file() else p
        prep = _read_preprocessing(best)
        kind = ModelKind.KERAS
        ship = best / BEST_MODEL
        keras_model = _load_or_config_error(
            "a Keras model", str(ship), lambda: _load_keras(str(ship), cfg.safe_mode)
        )
        pred = KerasPredictor(keras_model)
        shape = tuple(prep.get("input_shape") or keras_model.input_shape[1:])
        scale = prep.get("scale")
        if prep.get("class_names"):
            labels = tuple(str(x) for x in prep["class_names"])
            labels_where = str(best / PREPROCESSING)
    elif p.is_dir():
        raise ConfigError(
            f"{p} is a directory but neither a SavedModel (no saved_model.pb) nor a sparktf tune "
            f"run directory (no best/{BEST_MODEL})"
        )
    elif p.is_file():
        suffix = p.suffix.lower()
        ship = p
        if suffix in (".keras", ".h5", ".hdf5"):
            kind = ModelKind.KERAS
            hint = (
                " If it holds only weights of a keras.applications model, use "
                "--model NAME --weights FILE."
                if suffix != ".keras"
                else ""
            )
            keras_model = _load_or_config_error(
                "a Keras model", name, lambda: _load_keras(str(p), cfg.safe_mode), hint
            )
            if isinstance(keras_model.input_shape, list):
                raise ConfigError(
                    f"{name} has {len(keras_model.input_shape)} inputs; sparktf predict feeds "
                    "models with one image input"
                )
            pred = KerasPredictor(keras_model)
            shape = tuple(keras_model.input_shape[1:])
        elif suffix == ".pb":
            kind = ModelKind.GRAPH_DEF
            if not cfg.input_tensor or not cfg.output_tensor:
                raise ConfigError(
                    f"{name} is a frozen GraphDef: name its input and output tensors with "
                    "--input-tensor (e.g. DecodeJpeg/contents:0) and --output-tensor "
                    "(e.g. softmax:0)"
                )
            input_tensor, output_tensor = cfg.input_tensor, cfg.output_tensor
            pred = _load_or_config_error(
                "a frozen GraphDef",
                name,
                lambda: _load_graph_def(str(p), cfg.input_tensor or "", cfg.output_tensor or ""),
            )
            full = getattr(pred, "input_shape", None)
            shape = tuple(full[1:]) if full and not pred.takes_bytes else None
        else:
            raise ConfigError(
                f"cannot tell what kind of model {name} is from its suffix {suffix or '(none)'}: "
                "expected .keras or .h5 (Keras), .pb (frozen GraphDef), a SavedModel directory, "
                "a tune run directory or a keras.applications name"
            )
    else:
        found = find_application(name)
        if found is None:
            raise ConfigError(
                f"model {name!r} not found: expected a .keras/.h5 file, a SavedModel directory, "
                "a .pb GraphDef, a sparktf tune run directory, or a keras.applications name ("
                + ", ".join(APPLICATIONS)
                + ")"
            )
        snake, app = found
        kind = ModelKind.APPLICATION
        pred = None
        application = app.constructor
        preprocess = app.module
        shape = (app.size, app.size, 3)
        labels, labels_where = imagenet_labels(), "the ImageNet label list"
        image = _image_spec(cfg, shape, None, name, preprocess)
        weights = cfg.weights
        if weights and weights.lower() not in ("imagenet", "none") and not Path(weights).is_file():
            raise ConfigError(
                f"--weights {weights}: no such file (expected an .h5 weights file of "
                f"{app.constructor}, 'imagenet' to download them, or 'none' for random weights)"
            )
        w_arg: str | None
        if weights is None or weights.lower() == "imagenet":
            w_arg = "imagenet"
        elif weights.lower() == "none":
            w_arg = None
        else:
            w_arg = str(Path(weights).resolve())
        if w_arg is not None and w_arg != "imagenet":
            _check_application_weights(app, image.shape, w_arg, name)
            ship = Path(w_arg)
        else:  # weights made (random) or downloaded here, then shipped: all workers alike
            hint = (
                " The ImageNet weights are downloaded on first use; without network, pass "
                "--weights FILE (the .h5 file from keras.applications) or --weights none."
                if w_arg == "imagenet"
                else ""
            )
            keras_model = _build_or_config_error(app, w_arg, image.shape, name, hint)
            ship = stage_dir / f"{snake}.weights.h5"
            keras_model.save_weights(str(ship))

    if pred is not None:
        image = (
            _image_spec(cfg, shape, scale, name)
            if not pred.takes_bytes
            else ImageSpec(1, 1, 3, interpolation=cfg.interpolation, max_pixels=cfg.max_pixels)
        )
    sha = sha256_file(ship) if ship is not None else None
    spec = ModelSpec(
        kind=kind,
        source=name,
        path=str(ship) if ship is not None else None,
        sha256=sha,
        ship_name=f"{sha[:16]}-{ship.name}" if ship is not None and sha else None,
        image=image,
        num_classes=0,
        labels=(),
        input_tensor=input_tensor,
        output_tensor=output_tensor,
        signature=cfg.signature,
        application=application,
        safe_mode=cfg.safe_mode,
        takes_bytes=pred is not None and pred.takes_bytes,
        bytes_batched=bool(getattr(pred, "bytes_batched", False)),
    )
    # an application answers its 1000 ImageNet classes by construction: no probe run
    n = _probe(pred, spec) if pred is not None else len(labels or ())
    if cfg.labels:
        labels, labels_where = read_labels(cfg.labels), f"label file {cfg.labels}"
    if labels is None:
        labels = tuple(str(i) for i in range(n))
    else:
        labels = _check_labels(labels, n, name, labels_where)
    return replace(spec, num_classes=n, labels=labels)
