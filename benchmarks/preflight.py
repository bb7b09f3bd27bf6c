"""What the preflight costs before a study's first trial (issue 25): the probe job on a warm
local session (Python workers already started), median of several runs, with every check on
(sparktf, Python, TensorFlow/Keras, pyarrow, the report channel, a checkpoint store).

    .venv/bin/python benchmarks/preflight.py --runs 5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import machine, median, today


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--master", default="local[2]")
    args = ap.parse_args()
    from sparktf.execution.backends import channel_host
    from sparktf.execution.channel import ChannelServer
    from sparktf.execution.preflight import Needs, host_port, run_preflight
    from sparktf.spark import session, task_slots

    spark = session(args.master, app_name="preflight-bench")
    slots = task_slots(spark)
    with (
        tempfile.TemporaryDirectory() as store,
        ChannelServer(lambda *_: False, host=channel_host(spark)) as channel,
    ):
        needs = Needs(channel=host_port(channel.address.url), store=store)
        cold = run_preflight(spark, needs, slots)  # starts the Python workers
        warm = [run_preflight(spark, needs, slots).seconds for _ in range(args.runs)]
    print(f"machine: {machine()}; date: {today()}; master {args.master}, {slots} tasks")
    print(f"cold (first job of the session): {cold.seconds:.2f} s")
    print(
        f"warm: median {median(warm):.2f} s of {args.runs} ({', '.join(f'{w:.2f}' for w in warm)})"
    )
    print(cold.table())


if __name__ == "__main__":
    main()
