"""Tune, then predict, in one session: how many Python workers import TensorFlow, and what the
first prediction costs, with sparktf's one pool of Python workers against Spark's default of
one pool for RDD jobs (the trials) and another for DataFrame UDFs (the predictions).

Spark keys its pools of Python workers by their environment; a DataFrame UDF's workers get
``SPARK_SIMPLIFIED_TRACEBACK=1`` unless
``spark.sql.execution.pyspark.udf.simplifiedTraceback.enabled=false``, which sparktf's sessions
set. Each setting runs in a process of its own (a fresh SparkContext): two Keras trials on
synthetic data, then ``sparktf.predict`` of 8 PNGs; then the Python workers of the session are
counted, those that loaded TensorFlow, and their memory.

    .venv/bin/python benchmarks/worker_pools.py --runs 2
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import machine, markdown_table, median, today

SETTING = "spark.sql.execution.pyspark.udf.simplifiedTraceback.enabled"


def objective(params: dict, data: object) -> float:
    """A small Keras model on synthetic 28x28 images, one epoch."""
    import numpy as np

    import keras

    rng = np.random.default_rng(0)
    x, y = rng.random((256, 28, 28, 1), dtype="float32"), rng.integers(0, 10, 256)
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(params["units"])]
    )
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, epochs=1, batch_size=32, verbose=0, validation_split=0.25)
    return float(hist.history["val_accuracy"][-1])


def _workers() -> list[tuple[bool, float]]:
    """(TensorFlow loaded, RSS in GiB) of this session's Python workers: the children of the
    pyspark daemons that this process's JVM started."""
    parent = {}
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[pid] = (int(stat[1]), b"pyspark.daemon" in cmd)
    daemons = {
        pid
        for pid, (ppid, is_daemon) in parent.items()
        if is_daemon and parent.get(ppid, (None,))[0] == os.getpid()  # daemon -> JVM -> here
    }
    page = os.sysconf("SC_PAGE_SIZE")
    out = []
    for pid, (ppid, _) in parent.items():
        if ppid not in daemons:
            continue
        try:
            maps = Path(f"/proc/{pid}/maps").read_text()
            rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page / 2**30
        except OSError:
            continue
        out.append(("_pywrap_tensorflow" in maps, rss))
    return out


def one_run(shared: bool) -> dict:
    """Tune, then predict, in a new session; the counts (run in a process of its own)."""
    from PIL import Image

    import keras
    import sparktf
    from sparktf.spark import session

    spark = session("local[2]", app_name="worker-pools", conf={SETTING: str(not shared).lower()})
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        sparktf.tune(
            objective,
            {"units": {"type": "grid", "values": [16, 32]}},
            trials=2,
            spark=spark,
            out=str(Path(tmp) / "run"),
            show_progress=False,
            write_report=False,
        )
        tune_s = time.perf_counter() - t0
        model = keras.Sequential(
            [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]
        )
        model.save(Path(tmp) / "m.keras")
        images = Path(tmp) / "images"
        images.mkdir()
        for i in range(8):
            Image.new("L", (28, 28), color=i * 30).save(images / f"{i}.png")
        t0 = time.perf_counter()
        rows = sparktf.predict(str(images), str(Path(tmp) / "m.keras"), spark=spark).collect()
        predict_s = time.perf_counter() - t0
        assert len(rows) == 8 and all(r.error is None for r in rows)
        workers = _workers()
    spark.stop()
    return {
        "tune_s": tune_s,
        "predict_s": predict_s,
        "with_tf": sum(1 for tf, _ in workers if tf),
        "rss_gib": sum(rss for tf, rss in workers if tf),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=2, help="runs of each setting, alternating")
    ap.add_argument("--one", choices=["shared", "separate"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_run(args.one == "shared")))
        return
    results: dict[str, list[dict]] = {"shared": [], "separate": []}
    for _ in range(args.runs):
        for name in results:
            out = subprocess.run(
                [sys.executable, __file__, "--one", name],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            results[name].append(json.loads(out.strip().splitlines()[-1]))
    rows = []
    for name, runs in results.items():
        label = "one pool (sparktf)" if name == "shared" else "two pools (Spark's default)"
        rows.append(
            [
                label,
                " / ".join(str(r["with_tf"]) for r in runs),
                " / ".join(f"{r['rss_gib']:.1f}" for r in runs),
                f"{median([r['predict_s'] for r in runs]):.1f}",
                f"{median([r['tune_s'] for r in runs]):.1f}",
            ]
        )
    print(f"machine: {machine()}; date: {today()}; local[2], {args.runs} runs per setting")
    header = ["Python workers", "with TensorFlow", "their RSS (GiB)", "predict (s)", "tune (s)"]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
