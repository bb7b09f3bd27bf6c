"""Dispatch efficiency with ``--mlflow`` against without (issue 17): N trials that each sleep
S seconds on P slots of local[P] (``dispatch_overhead.run_sparktf``), once logging every trial
to a local ``mlflow server`` on SQLite and once not, alternating, in one process on one Spark
session. Reported: wall time (median of --repeats runs), the ideal N*S/P, efficiency =
ideal / wall, and the ratio of the two efficiencies (target >= 0.95).

    .venv/bin/python benchmarks/mlflow_dispatch.py --repeats 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.tracking.server

from _common import machine, markdown_table, median, today
from dispatch_overhead import run_sparktf


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--slots", type=int, default=8)
    ap.add_argument("--trials", type=int, default=32)
    ap.add_argument("--sleep", type=float, default=2.0)
    ap.add_argument("--warmup", type=int, default=2, help="warm-up studies of each kind")
    args = ap.parse_args()

    from tests.tracking.server import start_server

    from sparktf.spark import session

    p, n, s = args.slots, args.trials, args.sleep
    spark = session(f"local[{p}]", app_name="bench-mlflow", conf={"spark.ui.enabled": "false"})
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp))
        try:
            kinds = {
                "without MLflow": {},
                "--mlflow (mlflow server, SQLite)": {
                    "mlflow": True,
                    "mlflow_tracking_uri": server.uri,
                },
            }
            for _ in range(args.warmup):  # JIT, Python workers, MLflow's import and tables
                for settings in kinds.values():
                    run_sparktf(spark, 4 * p, 0.0, p, **settings)
            walls: dict[str, list[float]] = {k: [] for k in kinds}
            for _ in range(args.repeats):  # alternating: both see the same machine load
                for kind, settings in kinds.items():
                    walls[kind].append(run_sparktf(spark, n, s, p, **settings))
                    print(kind, f"{walls[kind][-1]:.2f}", flush=True)
        finally:
            server.stop()
    ideal = n * s / p
    eff = {k: ideal / median(w) for k, w in walls.items()}
    rows = [
        [
            k,
            f"({n}, {s:g}, {p})",
            f"{median(w):.2f}",
            " ".join(f"{x:.2f}" for x in w),
            f"{ideal:.2f}",
            f"{eff[k]:.3f}",
        ]
        for k, w in walls.items()
    ]
    with_, without = eff["--mlflow (mlflow server, SQLite)"], eff["without MLflow"]
    print()
    print(f"machine: {machine()}; date: {today()}; repeats: {args.repeats}")
    print(
        markdown_table(
            ["run", "(N, S, P)", "wall s (median)", "runs", "ideal s", "efficiency"], rows
        )
    )
    print(f"\nefficiency with --mlflow / without: {with_ / without:.3f} (target >= 0.95)")
    spark.stop()


if __name__ == "__main__":
    main()
