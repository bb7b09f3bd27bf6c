"""Dispatch overhead: N trials that each sleep S seconds on P slots of local[P].

sparktf and hyperopt's SparkTrials (parallelism P, random search) run side by side in one
process, on one Spark session, next to the floor of the one-job-per-trial design (bare Spark
jobs back to back, no search or bookkeeping). Reported: wall time (median of --repeats runs),
the ideal N*S/P, and efficiency = ideal / wall.

    .venv/bin/python benchmarks/dispatch_overhead.py --repeats 3

With ``--connect``, the Spark Connect columns: sparktf's slot mode and its per-trial queries on
one Spark Connect session (a local Connect server on local[P]), MLflow's ``MlflowSparkStudy``
(random sampler, MLflow SQLite store) on the same session, the floor of any design that starts
its Spark tasks once a study begins (one bare query of P tasks that sleep their trials back to
back: no tool's study on Connect can end sooner), and sparktf classic (per-trial jobs, and slot
mode) on local[P], side by side in one run; then the cost of cancelling one trial, in
slot mode (inside its task, and by interrupting its slot's query when the trial ignores the
interrupt) and with a job (query) per trial (its job cancelled). pyspark allows one kind of
session per process, so each side runs in a child process of this one, one after the other,
with the same cases and repeats; on the Connect side ``MlflowSparkStudy`` runs after the
others (its tasks leave mlflow in the reused Python workers, which slowed every later study of
the session):

    .venv/bin/python benchmarks/dispatch_overhead.py --connect --repeats 3
    .venv/bin/python benchmarks/dispatch_overhead.py --connect --smoke   # a quick check
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, markdown_table, median, today


def sleep_objective(params: dict, data: object) -> float:
    """Sleep the configured time; the value is irrelevant."""
    time.sleep(params["sleep"])
    return params["x"]


def run_sparktf(spark: object, n: int, s: float, p: int, **settings: Any) -> float:
    """One study of N sleep trials on P slots (``settings``: more ``tune()`` settings)."""
    import sparktf

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        sparktf.tune(
            sleep_objective,
            {"x": sparktf.uniform(0, 1), "sleep": s},
            trials=n,
            parallelism=p,
            sampler="random",
            pruner="none",
            spark=spark,
            out=Path(tmp) / "run",
            show_progress=False,
            write_report=False,
            direction="minimize",
            **settings,
        )
        return time.perf_counter() - t0


def run_slot_mode(spark: object, n: int, s: float, p: int) -> float:
    """sparktf's slot mode: one long-lived task per slot asks for trial after trial."""
    return run_sparktf(spark, n, s, p, dispatch="slot")


def run_per_trial(spark: object, n: int, s: float, p: int) -> float:
    """sparktf with one Spark job (classic) or query (Connect) per trial."""
    return run_sparktf(spark, n, s, p, dispatch="trial")


def hang_or_sleep(params: dict, data: object) -> float:
    """Trial 0 (``first``) hangs (``hang``: until interrupted; ``stubborn``: ignoring
    interrupts) or sleeps ``sleep`` s; the others return at once."""
    if params["x"] == 0.0:
        if params["first"] == "sleep":
            time.sleep(params["sleep"])
        give_up = time.monotonic() + 120
        while params["first"] != "sleep" and time.monotonic() < give_up:
            try:
                time.sleep(0.05)
            except KeyboardInterrupt:
                if params["first"] == "hang":
                    raise
    return params["x"]


def cancel_cost(spark: object, first: str, timeout: float, dispatch: str = "slot") -> float:
    """Wall time of a study on one slot (``dispatch``: slot mode or a job / query per trial):
    trial 0 (``first``) then two instant trials, under ``--trial-timeout``."""
    import sparktf

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        sparktf.tune(
            hang_or_sleep,
            {"x": sparktf.grid([0.0, 1.0, 2.0]), "first": first, "sleep": timeout},
            sampler="grid",
            trials=3,
            parallelism=1,
            trial_timeout=timeout + 0.5 if first == "sleep" else timeout,
            pruner="none",
            spark=spark,
            out=Path(tmp) / "run",
            show_progress=False,
            write_report=False,
            direction="minimize",
            dispatch=dispatch,
            max_failures=0,
        )
        return time.perf_counter() - t0


# how each dispatch ends a timed-out trial, by what the trial does with its interrupt
CANCELS = {
    ("slot", "hang"): "inside its task (KeyboardInterrupt)",
    ("slot", "stubborn"): "it ignores that: its slot's query interrupted after 5 s",
    ("trial", "hang"): "its job / query cancelled (KeyboardInterrupt ends it)",
    ("trial", "stubborn"): "its job / query cancelled (it ignores KeyboardInterrupt)",
}


def _cancel_rows(spark: object, repeats: int, side: str) -> list[list[str]]:
    """What cancelling one trial costs, in slot mode and with a job (query) per trial: the
    study's wall time less that of the same study whose first trial ends by itself when its
    timeout would have struck."""
    timeout = 2.0
    rows = []
    for dispatch in ("slot", "trial"):
        walls = {
            first: [cancel_cost(spark, first, timeout, dispatch) for _ in range(repeats)]
            for first in ("sleep", "hang", "stubborn")
        }
        base = median(walls["sleep"])
        mode = "slot mode" if dispatch == "slot" else "a job (query) per trial"
        rows += [
            [
                f"cancel one trial, {mode} on {side}",
                CANCELS[(dispatch, f)],
                f"{median(walls[f]) - base:.2f}",
                " ".join(f"{w - base:.2f}" for w in walls[f]),
            ]
            for f in ("hang", "stubborn")
        ]
    return rows


def run_bare_spark(spark: object, n: int, s: float, p: int, threads: int | None = None) -> float:
    """The floor of the one-job-per-trial design: P threads, each running its share of the
    N trials as one-task Spark jobs (own job group) back to back, with no search, storage or
    bookkeeping at all. Like sparktf, every job runs one cached one-element RDD and gets its
    trial as a local property, the cheapest way to submit a job from Python. No dispatcher
    that submits a job when a slot frees can beat it on the same machine. With ``threads``
    = 2P, P more jobs wait in Spark's queue, as sparktf's queue-ahead mode does."""
    from concurrent.futures import ThreadPoolExecutor

    from pyspark import TaskContext

    sc = spark.sparkContext  # type: ignore[attr-defined]

    def task(items):  # type: ignore[no-untyped-def]
        for _ in items:
            pass
        time.sleep(s)
        yield int(TaskContext.get().getLocalProperty("bare.trial"))

    rdd = sc.parallelize([0], 1).mapPartitions(task)
    _ = rdd._jrdd  # built once, before the threads share it

    threads = threads or p

    def slot(k: int) -> None:
        for j in range(k, n, threads):
            sc.setJobGroup(f"bare-{j}", "bare", interruptOnCancel=True)
            sc.setLocalProperty("bare.trial", str(j))
            if rdd.collect() != [j]:
                raise RuntimeError(f"bare job {j} returned the wrong trial")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(slot, range(threads)))
    return time.perf_counter() - t0


def run_bare_spark_ahead(spark: object, n: int, s: float, p: int) -> float:
    """The floor with P jobs queued ahead in Spark (2P threads)."""
    return run_bare_spark(spark, n, s, p, threads=2 * p)


def run_bare_slots(spark: Any, n: int, s: float, p: int) -> float:
    """The floor of any design that starts Spark tasks once a study begins (slot mode, or
    MLflow's P partitions of sequential trials): one query of P one-row partitions, its task k
    sleeping the trials k, k+P, ... back to back, with no search, channel or bookkeeping. Works
    on Spark Connect (DataFrame API only)."""
    from pyspark.sql.types import LongType, StructField, StructType

    def task(batches):  # type: ignore[no-untyped-def]
        for batch in batches:
            for k in batch.column(0).to_pylist():
                time.sleep(s * len(range(k, n, p)))
        yield from ()

    frame = spark.range(0, p, 1, p).mapInArrow(task, StructType([StructField("x", LongType())]))
    t0 = time.perf_counter()
    frame.write.format("noop").mode("overwrite").save()
    return time.perf_counter() - t0


def run_hyperopt(spark: object, n: int, s: float, p: int) -> float:
    from hyperopt import SparkTrials, fmin, hp, rand

    def fn(x: float) -> float:
        time.sleep(s)
        return x

    t0 = time.perf_counter()
    fmin(
        fn,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=n,
        trials=SparkTrials(parallelism=p, spark_session=spark),
        show_progressbar=False,
        rstate=__import__("numpy").random.default_rng(0),
    )
    return time.perf_counter() - t0


def run_mlflow_study(spark: object, n: int, s: float, p: int) -> float:
    """MLflow's Optuna-on-Spark: ``MlflowSparkStudy`` with a random sampler and an MLflow
    SQLite store, P partitions of sequential trials (``n_jobs=P``)."""
    import logging

    import mlflow
    import optuna
    from mlflow.optuna.storage import MlflowStorage
    from mlflow.pyspark.optuna.study import MlflowSparkStudy

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        exp = mlflow.create_experiment("bench", artifact_location=f"{tmp}/artifacts")

        def fn(trial: Any) -> float:
            x = trial.suggest_float("x", 0, 1)
            time.sleep(s)
            return x

        study = MlflowSparkStudy(
            f"bench-{time.time_ns()}",
            MlflowStorage(experiment_id=exp),
            sampler=optuna.samplers.RandomSampler(),
            mlflow_tracking_uri=mlflow.get_tracking_uri(),
            direction="minimize",
        )
        t0 = time.perf_counter()
        study.optimize(fn, n_trials=n, n_jobs=p)
        return time.perf_counter() - t0


def _tools(args: argparse.Namespace, connect: bool) -> list[tuple[str, Any]]:
    if connect:
        tools: list[tuple[str, Any]] = [
            ("sparktf slot mode on Spark Connect", run_slot_mode),
            ("sparktf per-trial queries on Spark Connect", run_per_trial),
            ("bare Spark Connect: one query of P slot tasks (floor)", run_bare_slots),
        ]
        if not args.skip_mlflow:
            tools.append(("MLflow MlflowSparkStudy on Spark Connect", run_mlflow_study))
        return tools
    tools = [("sparktf" if not args.session else "sparktf classic", run_per_trial)]
    if args.session:
        tools.append(("sparktf classic, slot mode", run_slot_mode))
    if not args.skip_bare:
        tools.append(("bare Spark jobs (floor)", run_bare_spark))
        tools.append(("bare Spark jobs, P queued ahead (floor)", run_bare_spark_ahead))
    if not args.skip_hyperopt:
        tools.append(("hyperopt SparkTrials", run_hyperopt))
    return tools


def _side_by_side(args: argparse.Namespace) -> None:
    """``--connect``: the Connect side and the classic side, each in a child process."""
    rows: list[list[str]] = []
    cancels: list[list[str]] = []
    for side in ("connect", "classic"):
        cmd = [sys.executable, __file__, "--session", side, "--repeats", str(args.repeats)]
        cmd += ["--slots", str(args.slots), "--warmup", str(args.warmup), "--cases", args.cases]
        cmd += ["--skip-hyperopt", "--skip-bare"] + (["--skip-mlflow"] if args.skip_mlflow else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        found = json.loads(out.strip().splitlines()[-1])
        rows += found["rows"]
        cancels += found["cancel"]
    rows.sort(key=lambda r: (r[1], r[0]))
    print(f"machine: {machine()}; date: {today()}; repeats: {args.repeats}")
    print(
        markdown_table(
            ["tool", "(N, S, P)", "wall s (median)", "runs", "ideal s", "efficiency"], rows
        )
    )
    print()
    print(markdown_table(["what", "how", "extra wall s (median)", "runs"], cancels))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--slots", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=3, help="warm-up rounds of every tool")
    ap.add_argument("--cases", default="32x2,64x0.5", help="NxS pairs")
    ap.add_argument("--skip-hyperopt", action="store_true")
    ap.add_argument(
        "--skip-bare", action="store_true", help="skip the bare one-job-per-trial Spark floor"
    )
    ap.add_argument("--skip-mlflow", action="store_true", help="skip MlflowSparkStudy")
    ap.add_argument("--connect", action="store_true", help="the Spark Connect comparison")
    ap.add_argument("--session", choices=("classic", "connect"), help=argparse.SUPPRESS)
    ap.add_argument(
        "--smoke", action="store_true", help="a quick check: one small case, 1 repeat, no warm-up"
    )
    args = ap.parse_args()
    if args.smoke:
        args.repeats, args.warmup, args.cases, args.slots = 1, 0, "8x0.2", 2
    if args.connect:
        _side_by_side(args)
        return
    import contextlib

    from sparktf.connect import local_connect_server
    from sparktf.spark import session

    p = args.slots
    with contextlib.ExitStack() as stack:
        if args.session == "connect":
            url = stack.enter_context(local_connect_server(f"local[{p}]"))
            spark = session(remote=url, app_name="bench-dispatch")
        else:
            spark = session(
                f"local[{p}]", app_name="bench-dispatch", conf={"spark.ui.enabled": "false"}
            )
        _measure(args, spark, _tools(args, args.session == "connect"))


def _measure(args: argparse.Namespace, spark: Any, tools: list[tuple[str, Any]]) -> None:
    p = args.slots
    # Warm up the JVM's JIT (a cluster that has run a few hundred jobs): the first studies of
    # a fresh JVM are up to twice as slow. SparkTrials is too slow to take part.
    for _ in range(args.warmup):
        for name, fn in tools:
            if name.startswith(("sparktf", "bare")):
                fn(spark, 4 * p, 0.0, p)
    cases = [(int(c.split("x")[0]), float(c.split("x")[1])) for c in args.cases.split(",")]
    walls: dict[tuple[int, float, str], list[float]] = {}
    # MlflowSparkStudy's tasks import mlflow in the Python workers that Spark then reuses for
    # every later query of the session (263 MB each): sparktf's slot mode at (64, 0.5, 8) took
    # 4.97 s on a session before MLflow's first study and 6.3 to 7.2 s after it (measured). So
    # its studies run after every other tool's, for all cases.
    last = [t for t in tools if t[0].startswith("MLflow")]
    for group in ([t for t in tools if t not in last], last):
        for n, s in cases:
            for name, fn in group:
                # One short study of the tool first: after a (minute-long) SparkTrials run,
                # the next study's first trials started ~1.5 s late (measured), as its Python
                # workers were started again. Every tool is timed with warm workers.
                fn(spark, p, 0.0, p)
                walls[(n, s, name)] = [fn(spark, n, s, p) for _ in range(args.repeats)]
    rows = []
    for n, s in cases:
        ideal = n * s / p
        for name, _ in tools:
            wall = median(walls[(n, s, name)])
            rows.append(
                [
                    name,
                    f"({n}, {s:g}, {p})",
                    f"{wall:.2f}",
                    " ".join(f"{w:.2f}" for w in walls[(n, s, name)]),
                    f"{ideal:.2f}",
                    f"{ideal / wall:.2f}",
                ]
            )
            print(rows[-1], flush=True, file=sys.stderr if args.session else sys.stdout)
    if args.session:  # a child of --connect: the rows, as JSON, on the last line
        cancel = _cancel_rows(spark, args.repeats, args.session)
        print(json.dumps({"rows": rows, "cancel": cancel}))
        spark.stop()
        return
    print()
    print(f"machine: {machine()}; date: {today()}; repeats: {args.repeats}")
    print(
        markdown_table(
            ["tool", "(N, S, P)", "wall s (median)", "runs", "ideal s", "efficiency"], rows
        )
    )
    spark.stop()


if __name__ == "__main__":
    main()
