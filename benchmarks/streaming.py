"""Streaming prediction against batch prediction over the same Fashion-MNIST PNG files (issue 19).

In one process and one Spark session (``local[2]`` by default), side by side:

- **batch**: ``run_predict`` over the folder of N files into one Parquet file (the whole call).
- **stream, throughput**: an empty landing folder, a running ``run_stream`` with
  ``--max-files-per-trigger 1000``; the N files are moved in, 1,000 at a time, all at once; the
  time from the first move to the last micro-batch's commit. Ratio = stream images/s over batch.
- **stream, latency**: the same, but one batch of 1,000 moved in every ``--interval`` seconds
  (default: 1.25x the time the batch run needs per 1,000 files, a load the stream can sustain);
  a file's latency is the time from its move into the folder to the commit of the micro-batch
  that wrote its row (the mtime of the file sink's ``_spark_metadata/<batch>`` entry).

Batch and throughput runs alternate (``--repeats`` each; medians), after one warm-up of each.
Model: ``mnist_cnn`` (sparktf.keras.models, untrained: timing does not need trained weights),
batch size 128.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, median, today
from inference import make_pngs

CHUNK = 1000


def _drop(files: list[Path], land: Path, interval: float, arrivals: dict[str, float]) -> None:
    """Move ``files`` into ``land`` in chunks of CHUNK, one chunk every ``interval`` seconds."""
    for start in range(0, len(files), CHUNK):
        due = time.time() + interval
        for f in files[start : start + CHUNK]:
            target = land / f.name
            f.rename(target)
            arrivals[target.name] = time.time()
        if start + CHUNK < len(files):
            time.sleep(max(0.0, due - time.time()))


def _commits(out: Path, seen: dict[str, dict[str, float]]) -> dict[str, float]:
    """File name -> commit time of the micro-batch that wrote its row (``seen`` caches the
    log entries already read). Every tenth entry is a compaction (``9.compact``) that repeats
    the earlier ones: the first commit of a name counts."""
    done: dict[str, float] = {}
    meta = out / "_spark_metadata"
    entries = [e for e in meta.iterdir() if e.name.split(".")[0].isdigit()] if meta.is_dir() else []
    for entry in sorted(entries, key=lambda e: int(e.name.split(".")[0])):
        if entry.name not in seen:
            seen[entry.name] = _entry(entry)
        for name, committed in seen[entry.name].items():
            done.setdefault(name, committed)
    return done


def _entry(entry: Path) -> dict[str, float]:
    import pyarrow.parquet as pq

    done: dict[str, float] = {}
    committed = entry.stat().st_mtime
    for line in entry.read_text().splitlines()[1:]:
        part = json.loads(line)["path"].removeprefix("file:")
        for row_id in pq.read_table(part, columns=["id"]).column("id").to_pylist():
            done[Path(row_id.removeprefix("file:")).name] = committed
    return done


def stream_run(
    spark: Any, model: str, cfg: Any, src: Path, work: Path, interval: float
) -> dict[str, Any]:
    """One streaming run: files moved from ``src`` into a landing folder (and back after)."""
    from sparktf.inference.stream import StreamConfig, run_stream

    for name in ("landing", "out", "ck"):
        shutil.rmtree(work / name, ignore_errors=True)
    land = work / "landing"
    land.mkdir(parents=True)
    files = sorted(src.glob("*.png"))
    stream = StreamConfig(
        out=str(work / "out"),
        checkpoint=str(work / "ck"),
        max_files_per_trigger=CHUNK,
        progress=False,
    )
    arrivals: dict[str, float] = {}
    result: dict[str, Any] = {}

    def run() -> None:
        result["summary"] = run_stream(land, model, stream, cfg, spark=spark)

    runner = threading.Thread(target=run)
    runner.start()
    time.sleep(5)  # the query is up and idle before the first file arrives
    _drop(files, land, interval, arrivals)
    seen: dict[str, dict[str, float]] = {}
    while len(_commits(work / "out", seen)) < len(files):  # until every row is committed
        time.sleep(0.5)
    for q in spark.streams.active:
        q.stop()
    runner.join()
    commits = _commits(work / "out", seen)
    for f in land.iterdir():
        f.rename(src / f.name)
    lat = np.array([commits[n] - arrivals[n] for n in arrivals])
    span = max(commits.values()) - min(arrivals.values())
    return {
        "images": len(files),
        "images_s": len(files) / span,
        "latency_median_s": float(np.median(lat)),
        "latency_p95_s": float(np.percentile(lat, 95)),
        "rows_written": len(commits),
    }


def batch_run(spark: Any, model: str, cfg: Any, src: Path, work: Path) -> float:
    """Images/s of one whole ``run_predict`` call over ``src``."""
    from sparktf.inference import run_predict

    n = len(list(src.glob("*.png")))
    t0 = time.perf_counter()
    s = run_predict(
        src, model, str(work / "batch.parquet"), cfg, spark=spark, overwrite=True, progress=False
    )
    seconds = time.perf_counter() - t0
    assert s.rows == n and s.ok == n, s.line()
    return n / seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--png", type=int, default=10000, help="Fashion-MNIST PNG files")
    p.add_argument("--repeats", type=int, default=3, help="batch and throughput runs each")
    p.add_argument("--interval", type=float, help="seconds between two drops (latency run)")
    p.add_argument("--master", default="local[2]")
    p.add_argument("--workdir", default="/tmp/sparktf-bench-streaming")
    p.add_argument("--json", help="also write the results as JSON here")
    args = p.parse_args(argv)

    from sparktf.inference import PredictConfig
    from sparktf.keras.models import build_mnist_cnn
    from sparktf.spark import session

    work = Path(args.workdir)
    src = work / "png"
    make_pngs(src, args.png)
    model = str(work / "mnist_cnn.keras")
    build_mnist_cnn({}).save(model)
    cfg = PredictConfig(batch_size=128)
    spark = session(args.master, app_name="bench-streaming", conf={"spark.ui.enabled": "false"})

    batch_run(spark, model, cfg, src, work)  # warm-up: workers up, model loaded
    stream_run(spark, model, cfg, src, work, 0.0)
    batch, streams = [], []
    for _ in range(args.repeats):  # alternated, so that noise hits both alike
        batch.append(batch_run(spark, model, cfg, src, work))
        streams.append(stream_run(spark, model, cfg, src, work, 0.0))
    interval = args.interval or 1.25 * CHUNK / median(batch)
    latency = stream_run(spark, model, cfg, src, work, interval)
    res = {
        "date": today(),
        "machine": machine(),
        "master": args.master,
        "images": args.png,
        "batch_images_s": batch,
        "stream_images_s": [s["images_s"] for s in streams],
        "ratio": median([s["images_s"] for s in streams]) / median(batch),
        "all_at_once_latency_median_s": median([s["latency_median_s"] for s in streams]),
        "interval_s": interval,
        "latency": latency,
    }
    print(
        markdown_table(
            ["measure", "value"],
            [
                ["batch predict, images/s (median)", f"{median(batch):.0f}"],
                [
                    "stream, all 10 drops at once, images/s (median)",
                    f"{median(res['stream_images_s']):.0f}",
                ],
                ["throughput ratio stream / batch", f"{res['ratio']:.2f}"],
                [
                    f"latency, one drop every {interval:.1f} s: median",
                    f"{latency['latency_median_s']:.1f} s",
                ],
                ["latency, same: 95th percentile", f"{latency['latency_p95_s']:.1f} s"],
            ],
        )
    )
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
