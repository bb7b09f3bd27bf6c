"""Every kind of model by name: frozen GraphDefs (bytes and float inputs) by tensor name,
SavedModels, keras.applications with shipped weights; and the errors that stop a run before
any Spark job starts."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sparktf.errors import ConfigError
from sparktf.imaging import ImageSpec, decode_image, to_batch
from sparktf.inference import PredictConfig, predict
from sparktf.inference.models import find_application, resolve_model
from tests.conftest import classic_only
from tests.inference.conftest import encode, photo


@pytest.fixture(scope="module")
def frozen_graphs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two frozen GraphDefs of one tiny classifier: one takes an encoded image
    (``contents:0``, decoded inside the graph), one a float batch (``images:0``)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    d = tmp_path_factory.mktemp("graphs")
    rng = np.random.default_rng(0)
    w = tf.Variable(rng.normal(size=(16 * 16 * 3, 7)).astype(np.float32) * 0.05)

    def classify(x: Any) -> Any:
        return tf.nn.softmax(tf.matmul(tf.reshape(x, [-1, 16 * 16 * 3]), w), name="softmax")

    @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="contents")])
    def from_bytes(contents: Any) -> Any:
        img = tf.io.decode_image(contents, channels=3, expand_animations=False)
        img = tf.image.resize(tf.cast(img, tf.float32), [16, 16], method="nearest")
        return classify(img[None] / 255.0)

    @tf.function(input_signature=[tf.TensorSpec([None, 16, 16, 3], tf.float32, name="images")])
    def from_floats(images: Any) -> Any:
        return classify(images)

    paths = {}
    for name, fn in (("bytes", from_bytes), ("floats", from_floats)):
        frozen = convert_variables_to_constants_v2(fn.get_concrete_function())
        paths[name] = d / f"{name}.pb"
        paths[name].write_bytes(frozen.graph.as_graph_def().SerializeToString())
    return {"paths": paths, "weights": w.numpy()}


def _softmax_of(images: np.ndarray, w: np.ndarray) -> np.ndarray:
    logits = images.reshape(len(images), -1) @ w
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.slow
def test_frozen_graph_taking_float_batches_by_tensor_name(
    spark: Any, frozen_graphs: dict[str, Any], tmp_path: Path
) -> None:
    files = []
    for i in range(6):
        files.append(tmp_path / f"{i}.png")
        files[-1].write_bytes(encode(photo(16 + i, 20, seed=i), "PNG"))
    rows = predict(
        tmp_path,
        frozen_graphs["paths"]["floats"],
        spark=spark,
        input_tensor="images:0",
        output_tensor="softmax:0",
        probabilities=True,
        batch_size=4,
    ).collect()
    spec = ImageSpec(16, 16, 3)  # the graph's input shape [None, 16, 16, 3]
    batch = to_batch([decode_image(f.read_bytes(), spec) for f in files], spec)
    expected = _softmax_of(batch, frozen_graphs["weights"])
    got = {Path(r.id.removeprefix("file:")).name: r.probabilities for r in rows}
    for f, exp in zip(files, expected, strict=True):
        np.testing.assert_allclose(got[f.name], exp, rtol=1e-4, atol=1e-6)


def test_frozen_graph_taking_encoded_images_one_at_a_time(
    spark: Any, frozen_graphs: dict[str, Any], tmp_path: Path
) -> None:
    pics = [photo(16, 16, seed=i) for i in range(5)]
    for i, p in enumerate(pics):
        (tmp_path / f"{i}.png").write_bytes(encode(p, "PNG"))
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"label {i}" for i in range(7)) + "\n")
    rows = predict(
        tmp_path,
        frozen_graphs["paths"]["bytes"],
        spark=spark,
        input_tensor="contents:0",
        output_tensor="softmax:0",
        labels=str(labels),
        probabilities=True,
        top_k=2,
    ).collect()
    assert len(rows) == 6
    by_name = {Path(r.id.removeprefix("file:")).name: r for r in rows}
    assert by_name["broken.jpg"].error.startswith("corrupt_image: ")
    for i, p in enumerate(pics):
        row = by_name[f"{i}.png"]
        exp = _softmax_of(p[None].astype(np.float32) / 255.0, frozen_graphs["weights"])[0]
        np.testing.assert_allclose(row.probabilities, exp, rtol=1e-4, atol=1e-6)
        assert row.top_k[0].label == f"label {int(np.argmax(exp))}"


def _jobs(spark: Any) -> int:
    return len(spark.sparkContext.statusTracker().getJobIdsForGroup(None))


@classic_only  # counts jobs with the SparkContext's status tracker
def test_wrong_tensor_name_is_a_clear_error_before_any_job(
    spark: Any, frozen_graphs: dict[str, Any], good_images: Path
) -> None:
    before = _jobs(spark)
    with pytest.raises(ConfigError) as info:
        predict(
            good_images,
            frozen_graphs["paths"]["floats"],
            spark=spark,
            input_tensor="input:0",
            output_tensor="softmax:0",
        )
    text = str(info.value)
    assert "--input-tensor 'input:0' is not a tensor" in text and "images:0" in text
    with pytest.raises(ConfigError, match="name its input and output tensors"):
        predict(good_images, frozen_graphs["paths"]["floats"], spark=spark)
    assert _jobs(spark) == before


@classic_only  # counts jobs with the SparkContext's status tracker
def test_label_file_length_must_match_the_model(
    spark: Any, good_images: Path, gray_model_path: Path, tmp_path: Path
) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"c{i}" for i in range(9)) + "\n")
    before = _jobs(spark)
    with pytest.raises(ConfigError, match=r"has 9 labels but model .* answers 10 classes"):
        predict(good_images, gray_model_path, spark=spark, labels=str(labels))
    assert _jobs(spark) == before


def test_missing_corrupt_and_unsafe_models_are_config_errors(tmp_path: Path) -> None:
    import keras

    stage = tmp_path / "stage"
    stage.mkdir()
    cfg = PredictConfig()
    with pytest.raises(ConfigError, match=r"model 'nope.keras' not found"):
        resolve_model("nope.keras", cfg, stage)
    (tmp_path / "bad.keras").write_bytes(b"not a zip file")
    with pytest.raises(ConfigError, match=r"bad.keras is not a valid Keras file: expected a"):
        resolve_model(tmp_path / "bad.keras", cfg, stage)
    (tmp_path / "m.bin").write_bytes(b"x")
    with pytest.raises(ConfigError, match="cannot tell what kind of model"):
        resolve_model(tmp_path / "m.bin", cfg, stage)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Lambda(lambda x: x * 2.0),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(ConfigError, match="--unsafe"):
        resolve_model(tmp_path / "lambda.keras", cfg, stage)
    spec = resolve_model(tmp_path / "lambda.keras", PredictConfig(safe_mode=False), stage)
    assert spec.num_classes == 3 and spec.image.shape == (8, 8, 1)


def test_saved_model_directory(spark: Any, tmp_path: Path, rgb_model_path: Path) -> None:
    import keras

    model = keras.saving.load_model(rgb_model_path)
    model.export(tmp_path / "exported", verbose=False)
    files = []
    for i in range(4):
        files.append(tmp_path / "imgs" / f"{i}.jpg")
        files[-1].parent.mkdir(exist_ok=True)
        files[-1].write_bytes(encode(photo(40, 30, seed=i), "JPEG"))
    rows = predict(
        tmp_path / "imgs", tmp_path / "exported", spark=spark, probabilities=True
    ).collect()
    spec = ImageSpec(32, 32, 3)
    expected = model.predict(
        to_batch([decode_image(f.read_bytes(), spec) for f in files], spec), verbose=0
    )
    got = {Path(r.id.removeprefix("file:")).name: r.probabilities for r in rows}
    for f, exp in zip(files, expected, strict=True):
        np.testing.assert_allclose(got[f.name], exp, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_keras_application_by_name_with_weights_file(spark: Any, tmp_path: Path) -> None:
    from keras.applications.mobilenet_v2 import preprocess_input

    import keras

    assert find_application("MobileNetV2") == find_application("mobilenet_v2")
    keras.utils.set_random_seed(5)
    net = keras.applications.MobileNetV2(weights=None, input_shape=(64, 64, 3))
    weights = tmp_path / "mnv2.weights.h5"
    net.save_weights(weights)
    files = []
    for i in range(3):
        files.append(tmp_path / "p" / f"{i}.jpg")
        files[-1].parent.mkdir(exist_ok=True)
        files[-1].write_bytes(encode(photo(80, 90, seed=i), "JPEG"))
    rows = predict(
        tmp_path / "p",
        "mobilenet_v2",
        spark=spark,
        weights=str(weights),
        input_size=(64, 64),
        probabilities=True,
    ).collect()
    spec = ImageSpec(64, 64, 3)
    raw = np.stack([decode_image(f.read_bytes(), spec) for f in files]).astype(np.float32)
    expected = net.predict(preprocess_input(raw), verbose=0)
    by_name = {Path(r.id.removeprefix("file:")).name: r for r in rows}
    from sparktf.inference.labels import imagenet_labels

    for f, exp in zip(files, expected, strict=True):
        row = by_name[f.name]
        np.testing.assert_allclose(row.probabilities, exp, rtol=1e-4, atol=1e-6)
        assert len(row.top_k) == 5 and row.top_k[0].label == imagenet_labels()[int(exp.argmax())]


def test_unknown_model_name_lists_what_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"keras.applications name .*mobilenet_v2"):
        resolve_model("mobilenet_v9", PredictConfig(), tmp_path)
    with pytest.raises(ConfigError, match=r"--weights nothere.h5: no such file"):
        resolve_model("mobilenet_v2", PredictConfig(weights="nothere.h5"), tmp_path)


def test_application_weights_file_is_checked_on_the_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import keras

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cfg = PredictConfig(input_size=(64, 64))
    right = tmp_path / "mnv2.weights.h5"
    keras.applications.MobileNetV2(weights=None, input_shape=(64, 64, 3)).save_weights(right)
    wrong = tmp_path / "mnv1.weights.h5"
    keras.applications.MobileNet(weights=None, input_shape=(64, 64, 3)).save_weights(wrong)
    text = tmp_path / "notes.h5"
    text.write_text("not weights\n")

    with pytest.raises(ConfigError, match=r"notes.h5: not a readable HDF5 weights file"):
        resolve_model("mobilenet_v2", replace(cfg, weights=str(text)), tmp_path)
    with pytest.raises(
        ConfigError, match=r"Is it a weights file of MobileNetV2 at input size 64x64"
    ):
        resolve_model("mobilenet_v2", replace(cfg, weights=str(wrong)), tmp_path)

    with pytest.raises(ConfigError, match=r"cannot load mobilenet_v2 as .*MobileNetV2.*32"):
        resolve_model(
            "mobilenet_v2", PredictConfig(weights=str(right), input_size=(16, 16)), tmp_path
        )
    spec = resolve_model("mobilenet_v2", replace(cfg, weights=str(right)), tmp_path)
    assert spec.num_classes == 1000 and len(spec.labels) == 1000 and spec.path == str(right)
    (cached,) = (tmp_path / "cache" / "sparktf" / "applications").glob("MobileNetV2-64x64x3-*")
    shapes = json.loads(cached.read_text())
    assert len(shapes) == 262 and [3, 3, 3, 32] in shapes  # every weight, the stem conv's too
    cached.write_text("{broken")  # a damaged cache is rebuilt, not trusted
    assert resolve_model("mobilenet_v2", replace(cfg, weights=str(right)), tmp_path) == spec
    assert json.loads(cached.read_text()) == shapes


def test_workers_unpacking_one_saved_model_at_once_all_get_a_whole_copy(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from sparktf.inference.models import extract_model_zip, sha256_file, zip_directory

    src = tmp_path / "sm"
    for i in range(20):  # nested directories: where zipfile's makedirs raced
        (src / "variables" / f"d{i}").mkdir(parents=True)
        (src / "variables" / f"d{i}" / "w.bin").write_bytes(os.urandom(1000))
    (src / "saved_model.pb").write_bytes(os.urandom(100))
    zipped = zip_directory(src, tmp_path / "sm.zip")
    sha = sha256_file(zipped)
    with ThreadPoolExecutor(8) as pool:
        dirs = list(pool.map(lambda _: extract_model_zip(str(zipped), sha), range(8)))
    for d in set(dirs):
        assert (Path(d) / ".complete").is_file()
        for i in range(20):
            rel = Path("variables") / f"d{i}" / "w.bin"
            assert (Path(d) / rel).read_bytes() == (src / rel).read_bytes()
    import tempfile

    # the race's winner is the machine's copy from then on
    assert extract_model_zip(str(zipped), sha) == str(
        Path(tempfile.gettempdir()) / "sparktf-models" / sha
    )


def test_files_that_are_not_what_their_suffix_says_are_named_as_such(tmp_path: Path) -> None:
    import zipfile

    cfg = PredictConfig()
    (tmp_path / "weights.h5").write_text("epoch,loss\n1,0.5\n")
    with pytest.raises(ConfigError) as info:
        resolve_model(tmp_path / "weights.h5", cfg, tmp_path)
    assert "weights.h5 is not a valid Keras file: expected an HDF5 file" in str(info.value)
    assert "found a text file of 17 bytes starting 'epoch,loss" in str(info.value)
    (tmp_path / "empty.keras").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"empty.keras is not a valid .* found an empty file"):
        resolve_model(tmp_path / "empty.keras", cfg, tmp_path)
    with zipfile.ZipFile(tmp_path / "zipped.keras", "w") as zf:
        zf.writestr("saved_model.pb", b"")
    with pytest.raises(ConfigError, match=r"found a zip archive of 1 entries \(saved_model.pb\)"):
        resolve_model(tmp_path / "zipped.keras", cfg, tmp_path)


def test_each_kind_is_recognised_without_loading_anything(
    tmp_path: Path, gray_model_path: Path
) -> None:
    from sparktf.inference.kinds import ModelKind, recognise

    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"")
    (tmp_path / "run" / "best").mkdir(parents=True)
    (tmp_path / "run" / "best" / "model.keras").write_bytes(b"")
    (tmp_path / "g.pb").write_bytes(b"")
    kinds = {
        str(gray_model_path): ModelKind.KERAS,
        str(tmp_path / "sm"): ModelKind.SAVED_MODEL,
        str(tmp_path / "run"): ModelKind.RUN_DIR,
        str(tmp_path / "run" / "best"): ModelKind.RUN_DIR,
        str(tmp_path / "g.pb"): ModelKind.GRAPH_DEF,
        "ResNet50": ModelKind.APPLICATION,
    }
    assert {name: recognise(name).kind for name in kinds} == kinds
    with pytest.raises(ConfigError, match=r"is a directory but neither a SavedModel"):
        recognise(str(tmp_path))
    with pytest.raises(ConfigError) as info:
        recognise(str(tmp_path / "nope.keras"))
    assert f"no file or directory {tmp_path / 'nope.keras'}" in str(info.value)
    assert "mobilenet_v2" not in str(info.value)  # a path: the application list is no help
