"""The best model in MLflow: logged with its signature, input example and preprocessing,
registered, and run by ``sparktf predict`` from ``models:/``, ``runs:/`` and a directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import sparktf
from sparktf.cli import main
from sparktf.tuning import tune
from tests.conftest import make_idx_dataset


@pytest.fixture
def tuned(spark: Any, tmp_path: Path, tracking_uri: str) -> tuple[Path, Any]:
    """A two-trial mnist_cnn study on tiny data, logged and registered as ``tiny-cnn``."""
    from sparktf.datasets import load

    data = load("mnist", data_dir=make_idx_dataset(tmp_path / "d", 60, 20), download=False)
    out = tmp_path / "run"
    tune(
        "mnist_cnn",
        {"learning_rate": sparktf.choice([3e-3, 1e-3]), "neurons": 8, "epochs": 1},
        data=data,
        spark=spark,
        out=out,
        trials=2,
        sampler="random",
        pruner="none",
        show_progress=False,
        write_report=False,
        mlflow=True,
        mlflow_tracking_uri=tracking_uri,
        register_model="tiny-cnn",
    )
    return out, data


def _pngs(data: Any, directory: Path, n: int = 6) -> Path:
    directory.mkdir()
    for i in range(n):
        Image.fromarray(np.asarray(data.x_test[i]).reshape(28, 28)).save(directory / f"{i}.png")
    return directory


def _top1(rows: list[Any]) -> dict[str, tuple[str, float]]:
    return {r.id: (r.top_k[0].label, round(r.top_k[0].probability, 5)) for r in rows}


@pytest.mark.slow
def test_best_model_is_registered_and_predict_runs_it_from_mlflow(
    spark: Any, tmp_path: Path, tracking_uri: str, tuned: tuple[Path, Any], monkeypatch: Any
) -> None:
    import mlflow
    from mlflow.models import Model

    from tests.tracking.conftest import run_tree

    out, data = tuned
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    tree = run_tree(tracking_uri)
    parent = tree.parent.info.run_id
    version = tree.client.get_model_version("tiny-cnn", "1")
    assert version.run_id == parent and version.status == "READY"
    tree.client.set_registered_model_alias("tiny-cnn", "champion", "1")
    local = Path(
        mlflow.artifacts.download_artifacts(f"runs:/{parent}/model", dst_path=str(tmp_path / "m"))
    )
    model = Model.load(str(local / "MLmodel"))
    assert "keras" in model.flavors and model.saved_input_example_info is not None
    assert model.signature.inputs.inputs[0].shape == (-1, 28, 28, 1)
    assert model.signature.outputs.inputs[0].shape == (-1, 10)
    prep = model.metadata["sparktf"]
    assert prep["input_shape"] == [28, 28, 1] and prep["class_names"] == list(data.class_names)
    assert prep["trial"] == int(tree.parent.data.tags["sparktf.best_trial"])

    images = _pngs(data, tmp_path / "png")
    expected = _top1(sparktf.predict(str(images), str(out), spark=spark).collect())
    assert {label for label, _ in expected.values()} <= set(data.class_names)
    for uri in (
        "models:/tiny-cnn/1",
        "models:/tiny-cnn@champion",
        f"runs:/{parent}/model",
        str(local),
    ):
        assert _top1(sparktf.predict(str(images), uri, spark=spark).collect()) == expected, uri


@pytest.mark.slow
def test_a_model_of_another_flavour_or_missing_is_refused_naming_it(
    tmp_path: Path, tracking_uri: str, capsys: Any, monkeypatch: Any
) -> None:
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    sk = tmp_path / "sk"
    mlflow.sklearn.save_model(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), str(sk))
    images = tmp_path / "png"
    images.mkdir()
    Image.new("L", (28, 28)).save(images / "a.png")
    for model, message in (
        (str(sk), "flavour(s) python_function, sklearn; sparktf predict runs the keras flavour"),
        ("models:/no-such-model/1", "cannot fetch model models:/no-such-model/1 from MLflow"),
    ):
        code = main(["predict", "--model", model, "--input", str(images)])
        err = " ".join(capsys.readouterr().err.split())
        assert code == 2 and message in err, err
        assert "Traceback" not in err
