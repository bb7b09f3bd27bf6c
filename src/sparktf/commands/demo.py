"""``sparktf demo``: the README's main job on local Spark."""

from __future__ import annotations

import argparse
import time
from typing import Any


def register(sub: Any) -> None:
    """Add ``demo`` to the CLI."""
    p = sub.add_parser(
        "demo",
        help="smoke run: start Spark, load Fashion-MNIST, check the executors",
        description="Start Spark (local by default), load Fashion-MNIST, ship it to the "
        "executors once and count the images per class there.",
    )
    p.add_argument("--master", help="Spark master URL (default: $SPARK_MASTER or local[*])")
    p.add_argument("--dataset", default="fashion-mnist", help="default: fashion-mnist")
    p.add_argument("--data-dir", help="directory holding the four IDX files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the smoke job and print what it saw."""
    import numpy as np

    from sparktf.datasets import load
    from sparktf.spark import session

    t0 = time.perf_counter()
    ds = load(args.dataset, data_dir=args.data_dir)
    print(f"{ds.name} from {ds.source}: train {ds.x_train.shape}, test {ds.x_test.shape}")
    spark = session(args.master, app_name="sparktf-demo")
    sc = spark.sparkContext
    print(f"Spark {spark.version} on {sc.master} with {sc.defaultParallelism} task slots")
    labels = sc.broadcast(ds.y_train)
    slots = sc.defaultParallelism

    def count(part: Any) -> Any:
        idx = list(part)
        if idx:
            yield np.bincount(labels.value[idx[0] : idx[-1] + 1], minlength=10)

    ranges = sc.parallelize(range(len(ds.y_train)), slots)
    counts = ranges.mapPartitions(count).reduce(lambda a, b: a + b)
    for name, n in zip(ds.class_names, counts, strict=True):
        print(f"  {name:>12}: {int(n)}")
    print(f"done in {time.perf_counter() - t0:.1f}s")
    return 0
