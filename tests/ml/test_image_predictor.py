"""``sparktf.ml.ImagePredictor`` as a real ``pyspark.ml`` Pipeline stage: saved, loaded in a new
session and applied it answers the rows ``predict`` answers; it keeps the input's columns and
works on a streaming DataFrame."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sparktf.errors import ConfigError
from sparktf.inference import predict
from sparktf.ml import ImagePredictor
from tests.inference.badimages import write_bad_images


def _table(spark: Any, images: Path, bad: Path) -> Any:
    files = [*sorted(images.iterdir())[:5], bad / "truncated.jpg", bad / "empty.png"]
    rows = [(f"k{i}", f.name, f.read_bytes()) for i, f in enumerate(files)]
    return spark.createDataFrame(rows, "key string, name string, content binary")


def test_pipeline_saved_and_reloaded_in_a_new_session_gives_predict_rows(
    spark: Any, tmp_path: Path, good_images: Path, gray_model_path: Path
) -> None:
    from pyspark.ml import PipelineModel

    write_bad_images(tmp_path / "bad")
    stage = ImagePredictor(
        model=str(gray_model_path), outputCol="pred", topK=3, batchSize=4, probabilities=True
    )
    PipelineModel(stages=[stage]).write().save(str(tmp_path / "pipe"))

    other = spark.newSession()
    loaded = PipelineModel.load(str(tmp_path / "pipe"))
    got = loaded.transform(_table(other, good_images, tmp_path / "bad")).collect()
    reloaded = loaded.stages[0]
    assert isinstance(reloaded, ImagePredictor)
    assert (reloaded.getModel(), reloaded.getOrDefault("topK")) == (str(gray_model_path), 3)

    table = _table(spark, good_images, tmp_path / "bad")
    want = {
        r.id: r
        for r in predict(
            table, gray_model_path, spark=spark, id_column="key", top_k=3, probabilities=True
        ).collect()
    }
    assert len(got) == len(want) == 7  # rows in = rows out, broken ones too
    for row in got:
        assert row.name and row.content is not None  # the input's columns are kept
        expected = want[row.key]
        assert row.pred.error == expected.error
        if expected.error is None:  # batches differ: float noise in the last bits only
            got_k = [(t.label, t.class_index) for t in row.pred.top_k]
            assert got_k == [(t.label, t.class_index) for t in expected.top_k]
            np.testing.assert_allclose(row.pred.probabilities, expected.probabilities, rtol=1e-5)
        else:
            assert row.pred.top_k is None
    assert {r.key: r.pred.error.split(":")[0] for r in got if r.pred.error} == {
        "k5": "corrupt_image",
        "k6": "empty_file",
    }


def test_transforms_a_streaming_dataframe(
    spark: Any, tmp_path: Path, good_images: Path, gray_model_path: Path
) -> None:
    write_bad_images(tmp_path / "bad")
    _table(spark, good_images, tmp_path / "bad").write.parquet(str(tmp_path / "in"))
    schema = spark.read.parquet(str(tmp_path / "in")).schema
    source = spark.readStream.schema(schema).parquet(str(tmp_path / "in"))
    out = ImagePredictor(model=str(gray_model_path), topK=1).transform(source)
    assert out.isStreaming
    query = (
        out.writeStream.format("memory").queryName("sparktf_ml_stream")
        .trigger(availableNow=True).start()
    )  # fmt: skip
    query.awaitTermination(120)
    rows = spark.sql("SELECT key, prediction FROM sparktf_ml_stream").collect()
    query.stop()
    assert len(rows) == 7
    assert sum(r.prediction.error is None for r in rows) == 5
    assert all(len(r.prediction.top_k) == 1 for r in rows if r.prediction.error is None)


def test_a_wrong_input_column_says_what_it_expected(spark: Any, gray_model_path: Path) -> None:
    df = spark.createDataFrame([("a", "not bytes")], "key string, content string")
    with pytest.raises(ConfigError, match=r"inputCol 'content' must be a binary column"):
        ImagePredictor(model=str(gray_model_path)).transform(df)
    with pytest.raises(ConfigError, match="needs model="):
        ImagePredictor(inputCol="b").transform(df.selectExpr("key", "binary(key) AS b"))
