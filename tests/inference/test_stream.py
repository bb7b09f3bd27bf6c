"""Prediction on a stream, on real local Structured Streaming: new files are labelled exactly
once across runs, broken files get their error row, the model stays loaded across
micro-batches, and ``predict`` turns a streaming DataFrame into a streaming DataFrame."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from sparktf.inference import predict
from sparktf.inference.stream import StreamConfig, run_stream
from tests.inference.badimages import write_bad_images
from tests.inference.conftest import encode, photo


def _png(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp"  # complete before it appears, as documented
    tmp.write_bytes(encode(photo(28, 28, seed=seed)[:, :, 0], "PNG"))
    tmp.rename(path)


def _name(row_id: str) -> str:
    return Path(row_id.removeprefix("file:")).name


def _cache_counts(spark: Any) -> list[int]:
    import pyarrow as pa

    def loads(batches: Any) -> Any:
        from sparktf.inference.partition import worker_cache_info

        for b in batches:
            info = json.dumps(worker_cache_info())
            yield pa.RecordBatch.from_arrays([pa.array([info] * b.num_rows)], names=["x"])

    seen = {r.x for r in spark.range(8).repartition(8).mapInArrow(loads, "x string").collect()}
    return [c for line in seen for c in json.loads(line).values()]


def test_files_added_between_two_available_now_runs_are_each_labelled_once(
    spark: Any, tmp_path: Path, gray_model_path: Path
) -> None:
    land = tmp_path / "landing"
    for i in range(4):
        _png(land / f"a{i}.png", seed=i)
    _png(land / "sub" / "deep.png", seed=9)
    bad = write_bad_images(tmp_path / "bad")
    shutil.copy(tmp_path / "bad" / "truncated.png", land / "truncated.png")
    stream = StreamConfig(
        out=str(tmp_path / "preds"),
        checkpoint=str(tmp_path / "ck"),
        available_now=True,
        max_files_per_trigger=2,
        progress=False,
    )
    first = run_stream(land, gray_model_path, stream, spark=spark)
    assert (first.batches, first.totals.rows, first.totals.ok) == (3, 6, 5)
    assert first.totals.failed == {"corrupt_image": 1} and not first.stopped

    for i in range(3):
        _png(land / f"b{i}.png", seed=20 + i)
    shutil.copy(tmp_path / "bad" / "text.jpg", land / "text.jpg")
    second = run_stream(land, gray_model_path, stream, spark=spark)
    assert (second.batches, second.totals.rows) == (2, 4)  # only the new files
    assert second.totals.failed == {"not_an_image": 1}

    rows = spark.read.parquet(str(tmp_path / "preds")).collect()  # committed files only
    names = sorted(_name(r.id) for r in rows)
    first_files = ["a0.png", "a1.png", "a2.png", "a3.png", "deep.png", "truncated.png"]
    assert names == sorted([*first_files, "b0.png", "b1.png", "b2.png", "text.jpg"])
    errors = {_name(r.id): r.error for r in rows if r.error is not None}
    assert set(errors) == {"truncated.png", "text.jpg"}
    assert errors["text.jpg"].startswith(f"{bad['text.jpg']}: ")

    batch = {_name(r.id): r.top_k for r in predict(land, gray_model_path, spark=spark).collect()}
    for row in rows:  # the same labels and probabilities as a batch prediction
        if row.error is None:
            got, want = row.top_k, batch[_name(row.id)]
            assert [t.class_index for t in got] == [t.class_index for t in want]
            np.testing.assert_allclose(
                [t.probability for t in got], [t.probability for t in want], rtol=1e-5
            )
    counts = _cache_counts(spark)  # five micro-batches, each worker loaded the model once
    assert counts and all(c == 1 for c in counts), counts


def test_predict_turns_a_streaming_dataframe_into_a_streaming_one(
    spark: Any, tmp_path: Path, gray_model_path: Path
) -> None:
    import pandas as pd

    table = tmp_path / "table"
    table.mkdir()
    pics = [encode(photo(28, 28, seed=s)[:, :, 0], "PNG") for s in range(5)]
    frame = pd.DataFrame({"key": [f"k{i}" for i in range(5)], "image": pics})
    frame.to_parquet(table / "part-0.parquet")
    schema = spark.read.parquet(str(table)).schema
    source = spark.readStream.schema(schema).parquet(str(table))

    result = predict(source, gray_model_path, spark=spark, id_column="key", top_k=2)
    assert result.isStreaming
    query = (
        result.writeStream.format("memory")
        .queryName("sparktf_stream_df")
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination(120)
    got = {r.id: r for r in spark.sql("SELECT * FROM sparktf_stream_df").collect()}
    query.stop()
    want = {
        r.id: r
        for r in predict(
            spark.read.parquet(str(table)), gray_model_path, spark=spark, id_column="key", top_k=2
        ).collect()
    }
    assert sorted(got) == sorted(want) == [f"k{i}" for i in range(5)]
    for key, row in got.items():
        assert row.error is None
        assert [t.class_index for t in row.top_k] == [t.class_index for t in want[key].top_k]
