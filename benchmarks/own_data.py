"""Tuning on your own data: broadcast against read-from-path (issue 18).

Fashion-MNIST training images exported as class folders (``sparktf data export-images
--class-folders``), then, side by side on one machine:

- **study**: ``sparktf tune --model cnn --data DIR`` with TPE + ASHA, ``--trials`` trials of at
  most ``--epochs`` epochs, once with the data broadcast (the default ``--broadcast-limit``) and
  once read from the path by the executors (``--broadcast-limit 0``), alternating for
  ``--repeats`` rounds: the best trial's test accuracy and the study's wall time (medians).
- **loading**: what a Python worker does before its first trial, in one Spark job per way:
  ``bc.value`` of the broadcast decoded data (unpickling), and ``PathData.read_with_stats()``
  from the path (decoding every PNG; then again, from the local disk cache): rows per second.

Usage::

    python benchmarks/own_data.py --images 20000 --trials 12 --epochs 3 --repeats 1
    python benchmarks/own_data.py --space benchmarks/own_data_space_wide.json ...
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, median, today

CLI = [sys.executable, "-m", "sparktf.cli"]
SPACE = {
    "epochs": 3,
    "batch_size": 64,
    "conv_layers": {"type": "choice", "values": [1, 2]},
    "filters": {"type": "choice", "values": [16, 32]},
    "dense_units": {"type": "choice", "values": [64, 128]},
    "dropout": {"type": "uniform", "low": 0.1, "high": 0.5},
    "learning_rate": {"type": "loguniform", "low": 3e-4, "high": 3e-3},
}


def export(folder: Path, images: int) -> float:
    """Write the first ``images`` training images as class folders; seconds taken."""
    t0 = time.perf_counter()
    subprocess.run(
        [
            *CLI,
            "data",
            "export-images",
            "fashion-mnist",
            str(folder),
            "--split",
            "train",
            "--limit",
            str(images),
            "--class-folders",
            "--no-download",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def study(folder: Path, out: Path, limit: str | None, args: argparse.Namespace) -> dict[str, Any]:
    """One ``sparktf tune`` run; its wall time and the best trial's metrics."""
    space = out.with_suffix(".json")
    chosen = json.loads(Path(args.space).read_text()) if args.space else SPACE
    space.write_text(json.dumps({**chosen, "epochs": args.epochs}))
    cmd = [
        *CLI,
        "tune",
        "--model",
        "cnn",
        "--data",
        str(folder),
        "--space",
        str(space),
        "--trials",
        str(args.trials),
        "--sampler",
        "tpe",
        "--pruner",
        "asha",
        "--seed",
        "7",
        "--master",
        args.master,
        "--out",
        str(out),
        "--quiet",
        "--no-report",
    ]
    if limit is not None:
        cmd += ["--broadcast-limit", limit]
    env = {**os.environ, "SPARKTF_DATA_CACHE": tempfile.mkdtemp(prefix="sparktf-bench-cache-")}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    wall = time.perf_counter() - t0
    metrics = json.loads((out / "best" / "metrics.json").read_text())
    report = json.loads((out / "config.json").read_text())["data_report"]
    return {
        "wall_s": wall,
        "test_accuracy": metrics["test_accuracy"],
        "val_accuracy": metrics["val_accuracy"],
        "shipped": report["shipped"],
    }


def _time_broadcast(bc: Any) -> Any:
    def run(_: Any) -> Any:
        t0 = time.perf_counter()
        rows = len(bc.value.x_train) + len(bc.value.x_test)
        yield rows, time.perf_counter() - t0

    return run


def _time_path(handle: Any, cache: str) -> Any:
    def run(_: Any) -> Any:
        os.environ["SPARKTF_DATA_CACHE"] = cache
        for _round in range(2):  # decode from the path, then from the local disk cache
            data, stats = handle.read_with_stats()
            yield len(data.x_train) + len(data.x_test), stats.seconds, stats.from_cache

    return run


def loading(folder: Path, master: str) -> dict[str, float]:
    """Rows per second of a Python worker's data loading, each way."""
    from sparktf.datasets.materialize import materialize
    from sparktf.datasets.plan import DataOptions, make_plan
    from sparktf.datasets.remote import PathData
    from sparktf.spark import session

    plan = make_plan(DataOptions(str(folder), seed=7))
    t0 = time.perf_counter()
    data, _ = materialize(plan)
    driver_s = time.perf_counter() - t0
    rows = len(data.x_train) + len(data.x_test)
    spark = session(master, app_name="sparktf-bench-own-data")
    sc = spark.sparkContext
    bc = sc.broadcast(data)
    ((_, bc_s),) = sc.parallelize([0], 1).mapPartitions(_time_broadcast(bc)).collect()
    cache = tempfile.mkdtemp(prefix="sparktf-bench-cache-")
    timings = sc.parallelize([0], 1).mapPartitions(_time_path(PathData(plan), cache)).collect()
    spark.stop()
    cold = next(t for t in timings if not t[2])[1]
    warm = next(t for t in timings if t[2])[1]
    return {
        "rows": rows,
        "driver_decode_rows_s": rows / driver_s,
        "broadcast_value_rows_s": rows / bc_s,
        "path_decode_rows_s": rows / cold,
        "path_cache_rows_s": rows / warm,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=20000)
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--master", default="local[2]")
    p.add_argument("--space", help="a JSON search space instead of the built-in one")
    p.add_argument("--out", default="benchmarks/results/own_data.json")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sparktf-bench-own-"))
    folder = work / "fashion"
    export_s = export(folder, args.images)
    load = loading(folder, args.master)
    runs: dict[str, list[dict[str, Any]]] = {"broadcast": [], "read from path": []}
    for r in range(args.repeats):
        runs["broadcast"].append(study(folder, work / f"b{r}", None, args))
        runs["read from path"].append(study(folder, work / f"p{r}", "0", args))
    rows = []
    base = median([x["wall_s"] for x in runs["broadcast"]])
    for way, results in runs.items():
        wall = median([x["wall_s"] for x in results])
        acc = median([x["test_accuracy"] for x in results])
        rows.append([way, f"{acc:.4f}", f"{wall:.0f}", f"{wall / base:.2f}"])
    load_rows = [
        [
            "driver decodes the PNGs (broadcast path, before Spark jobs)",
            f"{load['driver_decode_rows_s']:,.0f}",
        ],
        ["executor: broadcast value (fetch + unpickle)", f"{load['broadcast_value_rows_s']:,.0f}"],
        ["executor: read from path, decoding the PNGs", f"{load['path_decode_rows_s']:,.0f}"],
        ["executor: read from path, local disk cache", f"{load['path_cache_rows_s']:,.0f}"],
    ]
    cmd = " ".join(["python", "benchmarks/own_data.py", *sys.argv[1:]])
    text = "\n\n".join(
        [
            f"{args.images} Fashion-MNIST images in class folders (export {export_s:.0f} s), "
            f"`cnn`, TPE + ASHA, {args.trials} trials, <= {args.epochs} epochs, {args.master}, "
            f"{args.repeats} round(s)",
            markdown_table(["data", "best test accuracy", "study wall s", "vs broadcast"], rows),
            markdown_table(["data loading", "rows/s"], load_rows),
            f"Command: `{cmd}`. Machine: {machine()}. Date: {today()}.",
        ]
    )
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "args": vars(args),
                "runs": runs,
                "loading": load,
                "export_s": export_s,
                "table": text,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
