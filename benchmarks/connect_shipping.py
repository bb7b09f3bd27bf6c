"""Shipping a study's data to the executors: a Connect artifact against a classic broadcast.

The whole Fashion-MNIST training set (60,000 x 28 x 28, as ``sparktf tune --dataset
fashion-mnist`` loads it) goes to the executors of local[2] once: on Spark Connect as a file
artifact (what ``FrameJobs`` does), on a classic session as a broadcast (``ClassicJobs``).
Reported, median of --repeats: the driver's time to ship it, and the first trial's time on a
fresh Python worker to load it (a trial that only touches the data), against a second trial
on a worker that has it already. Each session kind runs in a child process (pyspark allows one
kind per process).

    .venv/bin/python benchmarks/connect_shipping.py --repeats 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, markdown_table, median, today


def _touch(params: dict, data: Any) -> float:
    """A trial that only reads the data (its first byte)."""
    return float(data.x_train.reshape(-1)[0])


def _measure(kind: str, repeats: int) -> list[list[str]]:
    from sparktf.connect import local_connect_server
    from sparktf.datasets import load
    from sparktf.execution.backends import Dispatch, Submit, make_backend
    from sparktf.execution.runner import Objective, ObjectiveKind, TrialTask
    from sparktf.spark import session

    data = load("fashion-mnist")
    mb = (data.x_train.nbytes + data.x_test.nbytes) / 1e6
    obj = Objective(ObjectiveKind.FUNCTION, "touch", fn=_touch)
    ship, first, again = [], [], []
    with contextlib.ExitStack() as stack:
        if kind == "connect":
            url = stack.enter_context(local_connect_server("local[1]"))
            spark = session(remote=url, app_name="bench-ship")
        else:
            spark = session("local[1]", app_name="bench-ship", conf={"spark.ui.enabled": "false"})
        for i in range(repeats):
            data.x_train[0, 0, 0] = i  # new content each time: nothing cached anywhere
            t0 = time.perf_counter()
            jobs = make_backend(spark, Dispatch.TRIAL)
            jobs.open(obj, data)
            ship.append(time.perf_counter() - t0)
            for times in (first, again):
                task = TrialTask(i, {}, 1, "value", "minimize", "value", None, None, 0.1)
                t0 = time.perf_counter()
                jobs.attempt(task, f"ship-{i}", Submit.NOW)(lambda: False)
                times.append(time.perf_counter() - t0)
            jobs.close()
        spark.stop()
    how = "Connect artifact" if kind == "connect" else "classic broadcast"
    return [
        [how, f"{mb:.0f}", f"{median(ship):.2f}", f"{median(first):.2f}", f"{median(again):.2f}"]
    ]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--session", choices=("classic", "connect"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.session:
        print(json.dumps(_measure(args.session, args.repeats)))
        return
    rows: list[list[str]] = []
    for kind in ("connect", "classic"):
        cmd = [sys.executable, __file__, "--session", kind, "--repeats", str(args.repeats)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rows += json.loads(out.strip().splitlines()[-1])
    print(f"machine: {machine()}; date: {today()}; repeats: {args.repeats}")
    header = ["how", "MB", "ship s", "first trial s (loads it)", "next trial s (has it)"]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
