"""``sparktf predict`` on Spark Connect against a classic session, over the same PNG files.

The Fashion-MNIST images (--png, 10,000 by default) as PNG files, ``mnist_cnn`` (untrained:
timing does not need accuracy) as a ``.keras`` file, ``run_predict`` writing Parquet on local[2]:
once through a local Spark Connect server (``local[2]``) and once on a classic ``local[2]``
session, each in a child process (pyspark allows one kind of session per process), each with one
cold run, then the median of --repeats warm runs. Reported: images/s of each and the ratio.

    .venv/bin/python benchmarks/connect_inference.py --png 10000 --repeats 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, markdown_table, today
from inference import make_pngs


def _measure(kind: str, images: Path, model: Path, repeats: int) -> dict[str, float]:
    from sparktf.connect import local_connect_server
    from sparktf.inference import PredictConfig, run_predict
    from sparktf.spark import session

    n = len(list(images.glob("*.png")))
    out = str(images.parent / f"preds-{kind}.parquet")
    cfg = PredictConfig(batch_size=128, top_k=3)
    with contextlib.ExitStack() as stack:
        if kind == "connect":
            url = stack.enter_context(local_connect_server("local[2]"))
            spark = session(remote=url, app_name="bench-connect-inference")
        else:
            spark = session("local[2]", app_name="bench-connect-inference")

        def once() -> float:
            t0 = time.perf_counter()
            s = run_predict(
                str(images), str(model), out, cfg, spark=spark, overwrite=True, progress=False
            )
            assert s.rows == n and s.ok == n, s.line()
            return time.perf_counter() - t0

        cold = once()
        warm = [once() for _ in range(repeats)]
        spark.stop()
    return {"images": n, "cold_s": cold, "warm_s": statistics.median(warm), "runs": warm}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--png", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", default="/tmp/sparktf-bench-connect-inference")
    ap.add_argument("--session", choices=("classic", "connect"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = Path(args.workdir)
    images, model = work / "pngs", work / "mnist_cnn.keras"
    if args.session:
        print(json.dumps(_measure(args.session, images, model, args.repeats)))
        return
    make_pngs(images, args.png)
    if not model.is_file():
        from sparktf.keras.models import get_family

        family = get_family("mnist_cnn")
        family.build(dict(family.defaults)).save(model)
    found = {}
    for kind in ("connect", "classic"):
        cmd = [sys.executable, __file__, "--session", kind, "--repeats", str(args.repeats)]
        cmd += ["--workdir", str(work)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        found[kind] = json.loads(out.strip().splitlines()[-1])
    rows = [
        [
            kind,
            r["images"],
            f"{r['cold_s']:.1f}",
            " ".join(f"{w:.1f}" for w in r["runs"]),
            f"{r['images'] / r['warm_s']:.0f}",
        ]
        for kind, r in found.items()
    ]
    ratio = found["classic"]["warm_s"] / found["connect"]["warm_s"]
    print(f"machine: {machine()}; date: {today()}; repeats: {args.repeats}")
    print(markdown_table(["session", "images", "cold s", "warm runs s", "images/s (median)"], rows))
    print(f"\nConnect / classic throughput: {ratio:.2f}")


if __name__ == "__main__":
    main()
