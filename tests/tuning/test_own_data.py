"""Tuning on your own data with real Spark: each family learns its data form, predict answers
the class names, unreadable images are counted, and big data is read from its path."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import sparktf
from sparktf.errors import ConfigError
from sparktf.inference.predict import run_predict
from sparktf.tuning import tune
from tests.datasets.owndata import class_folders, feature_frame, image_table


def _tune(spark, model: str, space: dict, out: Path, **kw):
    kw.setdefault("trials", 2)
    kw.setdefault("seed", 1)
    kw.setdefault("show_progress", False)
    return tune(model, space, spark=spark, out=out, write_report=False, **kw)


def _report(run: Path) -> dict:
    return json.loads((run / "config.json").read_text())["data_report"]


CNN = {
    "epochs": 4,
    "batch_size": 8,
    "filters": 8,
    "conv_layers": 1,
    "learning_rate": sparktf.loguniform(1e-3, 3e-3),
}


def test_cnn_on_class_folders_counts_unreadable_images_and_predicts_names(
    spark, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    photos = class_folders(tmp_path / "photos", per_class=30, mixed=True)
    (photos / "red" / "broken.jpg").write_bytes(b"not a jpeg")
    res = _tune(spark, "cnn", CNN, tmp_path / "run", data=str(photos), show_progress=True)
    err = capsys.readouterr().err
    assert "1 unreadable images skipped" in err  # on the data line before the study
    assert "data: 1 unreadable images were skipped (listed in" in err  # and after its summary
    assert res.best_metrics["test_accuracy"] >= 0.9
    report = _report(tmp_path / "run")
    assert report["skipped"] == 1 and "broken.jpg" in report["skipped_examples"][0]
    assert report["shipped"] == "broadcast" and report["classes"] == ["blue", "green", "red"]
    prep = json.loads((tmp_path / "run" / "best" / "preprocessing.json").read_text())
    assert prep["class_names"] == ["blue", "green", "red"] and prep["input_shape"] == [16, 16, 3]
    fresh = class_folders(tmp_path / "new", per_class=4, seed=9)
    out = tmp_path / "preds.parquet"
    summary = run_predict(
        str(fresh / "green"), tmp_path / "run", str(out), spark=spark, progress=False
    )
    assert summary.ok == 4
    labels = [row[0]["label"] for row in pd.read_parquet(out)["top_k"]]
    assert labels.count("green") >= 3


@pytest.mark.slow
def test_mlp_on_a_table_standardises_and_predict_keeps_the_id(spark, tmp_path: Path) -> None:
    feature_frame(150).to_parquet(tmp_path / "customers.parquet")
    space = {"epochs": 25, "batch_size": 16, "units": sparktf.choice([16, 32])}
    run = tmp_path / "run"
    res = _tune(
        spark, "mlp", space, run, data=str(tmp_path / "customers.parquet"), label_column="segment"
    )
    assert res.best_metrics["test_accuracy"] >= 0.9  # income ~50,000 and age ~40: standardised
    prep = json.loads((run / "best" / "preprocessing.json").read_text())
    assert prep["feature_columns"] == ["income", "age", "noise", "visits"]
    new = feature_frame(12, seed=7)
    truth = dict(zip(new["customer_id"], new["segment"], strict=True))
    new.drop(columns=["segment"]).to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "preds.json"
    summary = run_predict(str(tmp_path / "new.csv"), run, str(out), spark=spark, progress=False)
    assert summary.rows == 12 and summary.ok == 12
    got = pd.read_json(out, lines=True)
    assert list(got.columns[:2]) == ["id", "customer_id"]
    right = sum(truth[r["id"]] == r["top_k"][0]["label"] for _, r in got.iterrows())
    assert right >= 11
    lazy = sparktf.predict(str(tmp_path / "new.csv"), run, spark=spark, top_k=1)
    assert lazy.columns == ["id", "customer_id", "top_k", "error"] and lazy.count() == 12
    new.drop(columns=["segment", "age"]).to_parquet(tmp_path / "lacks.parquet")
    with pytest.raises(ConfigError, match=r"lacks the feature column\(s\) age"):
        run_predict(str(tmp_path / "lacks.parquet"), run, None, spark=spark)


def test_an_id_column_is_no_feature_said_before_training_and_is_predicts_row_id(
    spark, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    label = np.arange(40) % 2
    table = pd.DataFrame({"customer_id": np.arange(1000, 1040)})
    for i in range(5):
        table[f"f{i}"] = rng.normal(0, 1, 40) + (3 * label if i == 0 else 0)
    table["label_str"] = np.array(["no", "yes"])[label]
    table.to_csv(tmp_path / "c.csv", index=False)
    run = tmp_path / "run"
    data = str(tmp_path / "c.csv")
    _tune(
        spark,
        "mlp",
        {"epochs": 1},
        run,
        data=data,
        label_column="label_str",
        trials=1,
        show_progress=True,
    )
    err = " ".join(capsys.readouterr().err.split())
    assert "feature columns: f0, f1, f2, f3, f4" in err
    assert "customer_id (an id: unique on every row)" in err
    prep = json.loads((run / "best" / "preprocessing.json").read_text())
    assert prep["feature_columns"] == ["f0", "f1", "f2", "f3", "f4"]
    new = table.head(5).drop(columns=["label_str"])
    new.loc[2, "f3"] = None  # an empty feature cell: that row's error, counted by its reason
    new.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "p.json"
    summary = run_predict(str(tmp_path / "new.csv"), run, str(out), spark=spark, progress=False)
    assert (summary.rows, summary.ok, summary.failed) == (5, 4, {"missing_value": 1})
    got = pd.read_json(out, lines=True, dtype={"id": str})
    assert sorted(got["id"]) == [str(i) for i in range(1000, 1005)]


def test_image_table_read_from_path_by_the_executors(spark, tmp_path: Path) -> None:
    table = image_table(tmp_path / "images.parquet", per_class=30)
    res = _tune(
        spark,
        "cnn",
        CNN,
        tmp_path / "run",
        data=str(table),
        label_column="label",
        broadcast_limit=0,
        test_fraction=0.25,
    )
    report = _report(tmp_path / "run")
    assert report["shipped"] == "read from path by the executors"
    assert report["test"] == 22 and report["form"] == "table of images"
    assert res.best_metrics["test_accuracy"] >= 0.9
    assert (res.trials["state"] == "COMPLETE").all()


def _backbone_weights(tmp_path: Path) -> Path:
    """A weights file of the transfer family's default backbone (random, not downloaded)."""
    import keras

    base = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(32, 32, 3), alpha=1.0
    )
    path = tmp_path / "mobilenet_v2.weights.h5"
    base.save_weights(path)
    return path


@pytest.mark.parametrize("weights", ["none", "file"])
@pytest.mark.slow
def test_transfer_with_random_or_file_weights_trains_and_predicts(
    spark, tmp_path: Path, weights: str
) -> None:
    photos = class_folders(tmp_path / "photos", per_class=8)
    res = _tune(
        spark,
        "transfer",
        {"epochs": 1, "batch_size": 8, "fine_tune_layers": 2},
        tmp_path / "run",
        data=str(photos),
        backbone="mobilenet_v2",
        image_size=[32, 32],
        weights="none" if weights == "none" else str(_backbone_weights(tmp_path)),
        trials=1,
    )
    assert res.best_model_path is not None
    prep = json.loads((tmp_path / "run" / "best" / "preprocessing.json").read_text())
    assert prep["input_shape"] == [32, 32, 3] and prep["scale"] == 1.0
    out = tmp_path / "p.parquet"
    summary = run_predict(
        str(photos / "red"), tmp_path / "run", str(out), spark=spark, progress=False
    )
    labels = {row[0]["label"] for row in pd.read_parquet(out)["top_k"]}
    assert summary.ok == 8 and labels <= {"blue", "green", "red"}
