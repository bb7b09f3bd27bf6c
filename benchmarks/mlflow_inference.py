"""Inference from the MLflow model registry (issue 17): ``sparktf predict --model models:/...``
against ``mlflow.pyfunc.spark_udf`` on the same registered model, over the same Fashion-MNIST
PNG files, side by side in one process on one ``local[P]`` session.

The model is a ``mnist_cnn`` tuned for one epoch on a training subset by ``sparktf tune
--mlflow --register-model`` into a SQLite tracking store (timing does not need accuracy).
Both sides write a Parquet file and include fetching the model from the registry:

  (a) ``sparktf.inference.run_predict(images, "models:/NAME/1", out)``: top-5 labels;
  (b) the straightforward user code for ``spark_udf``: ``binaryFile`` source, a pandas UDF
      that decodes each PNG with PIL into a float array (/255), the ``spark_udf`` on it:
      class scores; coalesced to sparktf's partition count (4 per slot), and as read
      (Spark's own partitioning of many small files: spark_udf loads the model in every
      task, so this one is slow; --plain-repeats runs of it, after the others).

Reported: images per second (median of --repeats interleaved runs after one warm-up run
each) and the ratio sparktf / spark_udf (target >= 1.0).

    .venv/bin/python benchmarks/mlflow_inference.py --png 10000 --repeats 3 --plain-repeats 1
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, markdown_table, median, today
from inference import make_pngs

NAME = "bench-fashion-cnn"
FASHION = "/usr/share/datasets/fashion-mnist"


def register_model(spark: Any, work: Path, uri: str) -> str:
    """Tune one mnist_cnn trial with --mlflow --register-model; its ``models:/`` URI."""
    from mlflow import MlflowClient

    import sparktf

    MlflowClient(uri).create_experiment("sparktf", artifact_location=str(work / "artifacts"))
    sparktf.tune(
        "mnist_cnn",
        {"neurons": sparktf.choice([32]), "epochs": 1},
        dataset="fashion-mnist",
        data_dir=FASHION,
        train_subset=2000,
        test_subset=500,
        trials=1,
        pruner="none",
        spark=spark,
        out=work / "run",
        show_progress=False,
        write_report=False,
        mlflow=True,
        mlflow_tracking_uri=uri,
        register_model=NAME,
    )
    return f"models:/{NAME}/1"


def run_sparktf(spark: Any, images: Path, model: str, out: Path) -> float:
    from sparktf.inference import run_predict

    t0 = time.perf_counter()
    s = run_predict(str(images), model, str(out), spark=spark, overwrite=True, progress=False)
    assert s.ok == s.rows, s.line()
    return time.perf_counter() - t0


def decode_pngs(content: pd.Series) -> pd.Series:
    """The user's decoding UDF: each PNG to a flat float array in [0, 1] (PIL)."""

    def pixels(data: bytes) -> np.ndarray:
        img = Image.open(io.BytesIO(data)).convert("L")
        return (np.asarray(img, dtype=np.float32) / 255.0).reshape(-1)

    return content.apply(pixels)


def spark_udf_run(partitions: int | None) -> Callable[[Any, Path, str, Path], float]:
    """The spark_udf side; ``partitions``: coalesce the decoded images to that many."""

    def run(spark: Any, images: Path, model: str, out: Path) -> float:
        import mlflow.pyfunc
        from pyspark.sql.functions import col, pandas_udf

        t0 = time.perf_counter()
        predict = mlflow.pyfunc.spark_udf(spark, model, result_type="array<float>")
        decode = pandas_udf(decode_pngs, "array<float>")  # type: ignore[call-overload]
        df = spark.read.format("binaryFile").option("pathGlobFilter", "*.png").load(str(images))
        df = df.select(col("path").alias("id"), decode("content").alias("pixels"))
        if partitions is not None:
            df = df.coalesce(partitions)
        df.select("id", predict("pixels").alias("scores")).write.mode("overwrite").parquet(str(out))
        return time.perf_counter() - t0

    return run


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--png", type=int, default=10000, help="Fashion-MNIST test images")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--plain-repeats", type=int, default=1, help="runs of spark_udf as read")
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--work", type=Path, default=None, help="working directory (default: temp)")
    args = ap.parse_args()

    from sparktf.spark import session

    p = args.slots
    spark = session(
        f"local[{p}]", app_name="bench-mlflow-predict", conf={"spark.ui.enabled": "false"}
    )
    work = args.work or Path(tempfile.mkdtemp(prefix="sparktf-bench-mlflow-"))
    work.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{work / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    images = work / "png"
    n = len(make_pngs(images, args.png))
    model = register_model(spark, work, uri)
    tools: dict[str, Callable[[Any, Path, str, Path], float]] = {
        f"sparktf predict --model {model}": run_sparktf,
        f"mlflow.pyfunc.spark_udf (binaryFile + PIL decode UDF), coalesced to {4 * p} "
        "partitions": spark_udf_run(4 * p),
    }
    plain = ("mlflow.pyfunc.spark_udf as read", spark_udf_run(None))
    runs: dict[str, list[float]] = {k: [] for k in [*tools, plain[0]]}
    for fn in tools.values():  # warm-up: Python workers, TensorFlow, the model
        fn(spark, images, model, work / "warm.parquet")
    rounds = [tools] * args.repeats + [dict([plain])] * args.plain_repeats
    for round_ in rounds:
        for name, fn in round_.items():
            runs[name].append(fn(spark, images, model, work / "out.parquet"))
            print(name, f"{runs[name][-1]:.2f} s", flush=True)
    runs = {k: v for k, v in runs.items() if v}
    rate = {k: n / median(v) for k, v in runs.items()}
    first = next(iter(rate.values()))
    rows = [
        [k, n, " ".join(f"{x:.2f}" for x in v), f"{rate[k]:.0f}", f"{first / rate[k]:.2f}"]
        for k, v in runs.items()
    ]
    print(f"\nmachine: {machine()}; date: {today()}; local[{p}]; repeats: {args.repeats}")
    print(markdown_table(["tool", "images", "runs s", "images/s (median)", "sparktf / this"], rows))
    spark.stop()


if __name__ == "__main__":
    main()
