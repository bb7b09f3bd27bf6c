"""``sparktf.predict`` on real local Spark with real Keras models: equal to ``model.predict``,
one row per input whatever is wrong with it, every input form."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sparktf.errors import ConfigError
from sparktf.imaging import ImageSpec, decode_image, to_batch
from sparktf.inference import PredictConfig, predict, run_predict
from tests.conftest import classic_only, needs_fashion
from tests.inference.badimages import write_bad_images
from tests.inference.conftest import build_gray_model, encode, photo


def _local(path: str) -> Path:
    return Path(path.removeprefix("file:"))


def _expected(model: Any, files: list[Path], spec: ImageSpec) -> np.ndarray:
    batch = to_batch([decode_image(f.read_bytes(), spec) for f in files], spec)
    return np.asarray(model.predict(batch, verbose=0))


def test_predictions_equal_model_predict(
    spark: Any, good_images: Path, gray_model_path: Path, keras_gray: Any
) -> None:
    rows = predict(
        good_images, gray_model_path, spark=spark, probabilities=True, top_k=3, batch_size=5
    ).collect()
    files = sorted(good_images.iterdir())
    assert len(rows) == len(files)
    rows = sorted(rows, key=lambda r: r.id)
    assert [_local(r.id) for r in rows] == files
    expected = _expected(keras_gray, files, ImageSpec(28, 28, 1))
    got = np.array([r.probabilities for r in rows])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    for row, exp in zip(rows, expected, strict=True):
        assert row.error is None
        best = np.argsort(-exp)[:3]
        assert [t.class_index for t in row.top_k] == list(best)
        assert [t.label for t in row.top_k] == [str(i) for i in best]  # no labels: the index
        np.testing.assert_allclose([t.probability for t in row.top_k], exp[best], rtol=1e-5)


def test_batch_size_is_independent_of_arrow_batches(
    spark: Any, good_images: Path, gray_model_path: Path
) -> None:
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    old = spark.conf.get(key)
    try:
        spark.conf.set(key, "2")
        a = {
            r.id: r.top_k
            for r in predict(
                good_images, gray_model_path, spark=spark, batch_size=7, partitions=1
            ).collect()
        }
    finally:
        spark.conf.set(key, old)
    b = {
        r.id: r.top_k
        for r in predict(good_images, gray_model_path, spark=spark, batch_size=64).collect()
    }
    assert a.keys() == b.keys() and len(a) == 12
    for k in a:
        assert [t.class_index for t in a[k]] == [t.class_index for t in b[k]]
        np.testing.assert_allclose(
            [t.probability for t in a[k]], [t.probability for t in b[k]], rtol=1e-5
        )


def test_model_is_loaded_once_per_python_worker(
    spark: Any, good_images: Path, gray_model_path: Path
) -> None:
    import pyarrow as pa

    n = predict(good_images, gray_model_path, spark=spark, partitions=6, batch_size=2).count()
    assert n == 12

    def loads(batches: Any) -> Any:
        import os

        from sparktf.inference.partition import worker_cache_info

        for b in batches:
            info = json.dumps(worker_cache_info())
            yield pa.RecordBatch.from_arrays(
                [pa.array([f"{os.getpid()} {info}"] * b.num_rows)], names=["x"]
            )

    seen = {r.x for r in spark.range(8).repartition(8).mapInArrow(loads, "x string").collect()}
    counts = [c for line in seen for c in json.loads(line.split(" ", 1)[1]).values()]
    assert counts and all(c == 1 for c in counts), seen


@classic_only
def test_a_small_folder_gets_no_more_partitions_than_batches(
    spark: Any, good_images: Path, gray_model_path: Path
) -> None:
    """12 images: one partition for one batch of 64 (one model load, on one Python worker);
    for three batches of 5, the file scan's partitions coalesced to at most three; what
    --partitions says when it is given."""

    def partitions(**kwargs: Any) -> int:
        df = predict(good_images, gray_model_path, spark=spark, **kwargs)
        return int(df.rdd.getNumPartitions())

    assert partitions(batch_size=64) == 1
    assert partitions(batch_size=5) in (2, 3)  # (pyspark 4 scans the 12 files into 2)
    assert partitions(batch_size=64, partitions=6) == 6


def test_bad_inputs_never_fail_the_job_nor_lose_a_row(
    spark: Any, tmp_path: Path, good_images: Path, rgb_model_path: Path
) -> None:
    d = tmp_path / "mixed"
    expected = write_bad_images(d)
    for f in sorted(good_images.iterdir())[:3]:
        shutil.copy(f, d / f.name)
    summary = run_predict(
        d,
        rgb_model_path,
        str(tmp_path / "out.parquet"),
        spark=spark,
        progress=False,
        config=PredictConfig(batch_size=4),
    )
    import pandas as pd

    df = pd.read_parquet(tmp_path / "out.parquet")
    assert len(df) == len(expected) + 3 == summary.rows  # rows in = rows out
    by_name = {_local(i).name: e for i, e in zip(df["id"], df["error"], strict=True)}
    for name, reason in expected.items():
        err = by_name[name]
        if reason is None:
            assert err is None, f"{name}: {err}"
        else:
            assert err is not None and err.startswith(reason + ": "), f"{name}: {err}"
    assert summary.ok == 3 + sum(r is None for r in expected.values())
    assert summary.failed == {
        "empty_file": 1,
        "not_an_image": 1,
        "corrupt_image": 3,
        "image_too_large": 1,
    }
    assert "failed (corrupt_image 3" in summary.line()
    ok = df[df["error"].isna()]
    assert all(len(t) == 5 for t in ok["top_k"]) and df[df["error"].notna()]["top_k"].isna().all()


def test_glob_with_double_star_and_single_file(
    spark: Any, tmp_path: Path, gray_model_path: Path
) -> None:
    for sub in ("a", "b/c"):
        (tmp_path / sub).mkdir(parents=True)
        (tmp_path / sub / "x.png").write_bytes(encode(photo(28, 28)[:, :, 0], "PNG"))
        (tmp_path / sub / "y.jpg").write_bytes(encode(photo(28, 28), "JPEG"))
    rows = predict(f"{tmp_path}/**/*.png", gray_model_path, spark=spark).collect()
    assert sorted(_local(r.id).relative_to(tmp_path).as_posix() for r in rows) == [
        "a/x.png",
        "b/c/x.png",
    ]
    one = predict(tmp_path / "a" / "y.jpg", gray_model_path, spark=spark).collect()
    assert len(one) == 1 and one[0].error is None


def test_idx_parquet_and_dataframe_inputs_agree(
    spark: Any, tmp_path: Path, gray_model_path: Path, keras_gray: Any
) -> None:
    import pandas as pd

    from sparktf.datasets import write_idx

    pics = np.stack([photo(28, 28, seed=s)[:, :, 0] for s in range(9)])
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", pics)
    idx_rows = predict(
        tmp_path / "t10k-images-idx3-ubyte.gz", gray_model_path, spark=spark, probabilities=True
    ).collect()
    assert sorted(int(r.id) for r in idx_rows) == list(range(9))
    expected = np.asarray(keras_gray.predict(pics[..., None] / 255.0, verbose=0))
    got = np.array([r.probabilities for r in sorted(idx_rows, key=lambda r: int(r.id))])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)

    table = pd.DataFrame(
        {"key": [f"k{i}" for i in range(9)], "image": [encode(p, "PNG") for p in pics]}
    )
    table.loc[4, "image"] = None  # a null cell is a row with an error, not a crash
    table.to_parquet(tmp_path / "imgs.parquet")
    pq = predict(
        tmp_path / "imgs.parquet", gray_model_path, spark=spark, id_column="key", probabilities=True
    ).collect()
    pq_by_id = {r.id: r for r in pq}
    assert sorted(pq_by_id) == [f"k{i}" for i in range(9)]
    assert pq_by_id["k4"].error.startswith("missing_input: ")
    np.testing.assert_allclose(pq_by_id["k3"].probabilities, expected[3], rtol=1e-5, atol=1e-6)

    sdf = spark.createDataFrame(table.dropna())
    df_rows = predict(
        sdf, gray_model_path, spark=spark, image_column="image", id_column="key"
    ).collect()
    assert len(df_rows) == 8 and all(r.error is None for r in df_rows)


def test_run_directory_brings_input_shape_scale_and_class_names(
    spark: Any, tmp_path: Path, good_images: Path
) -> None:
    run = tmp_path / "run"
    (run / "best").mkdir(parents=True)
    model = build_gray_model(seed=3)
    model.save(run / "best" / "model.keras")  # type: ignore[attr-defined]
    names = [f"class-{i}" for i in range(10)]
    (run / "best" / "preprocessing.json").write_text(
        json.dumps({"input_shape": [28, 28, 1], "scale": 1 / 255, "class_names": names})
    )
    rows = predict(good_images, run, spark=spark, top_k=2).collect()
    assert len(rows) == 12
    assert all(t.label == names[t.class_index] for r in rows for t in r.top_k)


@pytest.mark.slow
@needs_fashion
def test_best_tuned_model_accuracy_over_exported_pngs_equals_evaluate(
    spark: Any, tmp_path: Path
) -> None:
    import keras
    from sparktf.datasets import export_images, load_fashion_mnist

    ds = load_fashion_mnist()
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(ds.x_train[:4000, ..., None] / 255.0, ds.y_train[:4000], epochs=1, verbose=0)
    run = tmp_path / "run"
    (run / "best").mkdir(parents=True)
    model.save(run / "best" / "model.keras")
    (run / "best" / "preprocessing.json").write_text(
        json.dumps(
            {"input_shape": [28, 28, 1], "scale": 1 / 255, "class_names": list(ds.class_names)}
        )
    )
    n = 2000
    export_images(ds.x_test, ds.y_test, tmp_path / "png", class_names=ds.class_names, limit=n)
    _, acc = model.evaluate(ds.x_test[:n, ..., None] / 255.0, ds.y_test[:n], verbose=0)
    assert acc > 0.5  # it learned something: the comparison below is not between two guesses

    rows = predict(f"{tmp_path}/png/*.png", run, spark=spark, top_k=1).collect()
    assert len(rows) == n and all(r.error is None for r in rows)
    labels = {f"{i:05d}.png": int(y) for i, y in enumerate(ds.y_test[:n])}
    hits = sum(r.top_k[0].class_index == labels[_local(r.id).name] for r in rows)
    assert all(r.top_k[0].label == ds.class_names[r.top_k[0].class_index] for r in rows)
    assert hits / n == pytest.approx(acc, abs=1e-6)  # evaluate reports float32


@classic_only  # counts jobs with the SparkContext's status tracker
def test_empty_folder_is_refused_before_the_model_is_loaded(spark: Any, tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "readme.txt").write_text("images go here\n")
    jobs = len(spark.sparkContext.statusTracker().getJobIdsForGroup(None))
    # the model does not exist either: the input, checked first, is what the user hears about
    with pytest.raises(ConfigError, match=r"input folder .*inbox holds no image files"):
        predict(tmp_path / "inbox", tmp_path / "missing.keras", spark=spark)
    assert len(spark.sparkContext.statusTracker().getJobIdsForGroup(None)) == jobs


def _path_table(tmp_path: Path) -> tuple[Path, Path, Path]:
    """``data/images.csv`` with a ``path`` column (relative, absolute and missing files) and a
    ``label`` column, as ``tune --data`` takes it; and a Parquet copy."""
    import pandas as pd

    data = tmp_path / "data"
    (data / "imgs").mkdir(parents=True)
    rel = []
    for i in range(4):
        (data / "imgs" / f"{i}.png").write_bytes(encode(photo(28, 28, seed=i)[:, :, 0], "PNG"))
        rel.append(f"imgs/{i}.png")
    absolute = str(data / "imgs" / "3.png")
    table = pd.DataFrame(
        {"path": [*rel[:3], absolute, "imgs/gone.png"], "label": ["a", "b", "a", "b", "a"]}
    )
    table.to_csv(data / "images.csv", index=False)
    table.to_parquet(data / "images.parquet")
    return data, data / "images.csv", data / "images.parquet"


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_table_of_image_paths_is_read_row_by_row_not_decoded_as_an_image(
    spark: Any, tmp_path: Path, gray_model_path: Path, keras_gray: Any, suffix: str
) -> None:
    data, csv, parquet = _path_table(tmp_path)
    source = csv if suffix == "csv" else parquet
    summary = run_predict(
        str(source),
        gray_model_path,
        str(tmp_path / "p.parquet"),
        PredictConfig(image_column="path", probabilities=True),
        spark=spark,
        progress=False,
    )
    assert (summary.rows, summary.ok, summary.failed) == (5, 4, {"missing_input": 1})
    import pandas as pd

    rows = pd.read_parquet(tmp_path / "p.parquet").set_index("id")
    assert sorted(rows.index) == sorted(
        ["imgs/0.png", "imgs/1.png", "imgs/2.png", str(data / "imgs" / "3.png"), "imgs/gone.png"]
    )
    assert rows.loc["imgs/gone.png", "error"].startswith("missing_input: no such file")
    pic = photo(28, 28, seed=1)[:, :, 0]
    expected = np.asarray(keras_gray.predict(pic[None, ..., None] / 255.0, verbose=0))[0]
    np.testing.assert_allclose(
        rows.loc["imgs/1.png", "probabilities"], expected, rtol=1e-5, atol=1e-6
    )


def test_a_table_without_an_image_column_is_refused_naming_its_columns(
    tmp_path: Path, gray_model_path: Path
) -> None:
    import pandas as pd

    pd.DataFrame({"name": ["x", "y"], "size": [1, 2]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(ConfigError, match=r"--image-column \(columns: name string, size int64\)"):
        predict(str(tmp_path / "t.csv"), gray_model_path)  # refused before Spark starts


def test_progress_never_claims_a_total_that_grows(
    spark: Any,
    good_images: Path,
    gray_model_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # every change of the display becomes a line (in a log it is a line every few seconds)
    from sparktf import console

    monkeypatch.setattr(
        console, "progress", lambda transient=False: console.PlainProgress(console.console, 0.05)
    )
    spark.conf.set("spark.sql.adaptive.enabled", "true")  # stages submitted one by one
    capsys.readouterr()
    summary = run_predict(
        str(good_images), gray_model_path, str(tmp_path / "p.parquet"), spark=spark
    )
    assert summary.rows == len(list(good_images.iterdir()))
    lines = re.findall(r"^predict: (\d+)(/\d+)?, ", capsys.readouterr().err, re.M)
    assert lines, "no progress line"
    done = [int(d) for d, _ in lines]
    assert done == sorted(done) and all(not total for _, total in lines), lines
