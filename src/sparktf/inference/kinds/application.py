"""``keras.applications`` ImageNet models by name (``mobilenet_v2``, ``ResNet50``): built on
each executor, with weights downloaded or made once on the driver (or given as a file) and
shipped; their classes are the 1000 ImageNet classes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparktf.errors import ConfigError
from sparktf.fileio import write_atomic
from sparktf.inference.config import PredictConfig
from sparktf.inference.kinds.base import (
    ModelKind,
    ModelSpec,
    Predictor,
    Resolved,
    image_spec,
    load_or_config_error,
)
from sparktf.inference.kinds.predictors import KerasPredictor
from sparktf.inference.labels import imagenet_labels


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
    return load_or_config_error(what, source, lambda: _build_application(app, weights, shape), hint)


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
        write_atomic(cached, json.dumps(shapes))
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


def _weights_argument(weights: str | None, app: Application) -> str | None:
    """``--weights`` as ``keras.applications`` takes it: ``"imagenet"``, ``None`` (random) or
    an absolute file path.

    Raises:
        ConfigError: a file that does not exist.
    """
    if weights is None or weights.lower() == "imagenet":
        return "imagenet"
    if weights.lower() == "none":
        return None
    if not Path(weights).is_file():
        raise ConfigError(
            f"--weights {weights}: no such file (expected an .h5 weights file of "
            f"{app.constructor}, 'imagenet' to download them, or 'none' for random weights)"
        )
    return str(Path(weights).resolve())


class ApplicationHandler:
    """A ``keras.applications`` model named by the user (not a path that exists)."""

    kind = ModelKind.APPLICATION

    def recognises(self, path: Path, name: str) -> bool:
        """A known application name that is not also a file or directory."""
        return not path.exists() and find_application(name) is not None

    def resolve(self, name: str, path: Path, cfg: PredictConfig, stage_dir: Path) -> Resolved:
        """Check a weights file against the model's weight shapes (without building it where
        possible), or build the model here with downloaded (or random) weights and save
        them to ship: every worker then uses the same weights and downloads nothing.

        Raises:
            ConfigError: a missing or mismatching weights file, or a failed build/download.
        """
        found = find_application(name)
        if found is None:
            raise ConfigError(f"{name!r} is not a keras.applications model")
        snake, app = found
        image = image_spec(cfg, (app.size, app.size, 3), name, preprocess=app.module)
        weights = _weights_argument(cfg.weights, app)
        if weights is not None and weights != "imagenet":
            _check_application_weights(app, image.shape, weights, name)
            ship = Path(weights)
        else:
            hint = (
                " The ImageNet weights are downloaded on first use; without network, pass "
                "--weights FILE (the .h5 file from keras.applications) or --weights none."
                if weights == "imagenet"
                else ""
            )
            model = _build_or_config_error(app, weights, image.shape, name, hint)
            ship = stage_dir / f"{snake}.weights.h5"
            model.save_weights(str(ship))
        return Resolved(
            image=image,
            ship=ship,
            labels=imagenet_labels(),
            labels_where="the ImageNet label list",
            application=app.constructor,
        )

    def load(self, spec: ModelSpec, path: str | None) -> Predictor:
        """Build the model for the spec's input shape and load the shipped weights."""
        found = find_application(spec.application or spec.source)
        if found is None:
            raise ConfigError(f"{spec.source!r} is not a keras.applications model")
        model = _build_application(found[1], None, spec.image.shape)
        if path is not None:
            model.load_weights(path)
        return KerasPredictor(model)
