"""Scaling: the same study on more workers (issue 7).

1. CPU-bound trials: ``mnist_cnn`` on a Fashion-MNIST subset, one thread per trial, the same 8
   configurations (a grid over the learning rate, no pruning) on a Spark standalone cluster of
   1 worker x 1 core, then 2 workers x 1 core. Reported: the study's wall time
   (``TuneResult.wall_seconds``, with the session started and every executor registered) and
   the speedup (physical limit on a 2-core machine: 2.0). For reference, the same trainings
   without Spark: one plain process, then two side by side (1 thread each), which shows what
   the machine itself gives for two trials at once.
2. Sleep trials: N = 4*P trials of S seconds on P slots of ``local[P]``, P = 1, 2, 4, 8, 16
   (threads are not the limit for sleeping tasks, so P may exceed the cores). Reported: wall,
   the ideal N*S/P and efficiency = ideal / wall (median of --repeats runs, each after a
   warm-up study that starts the P Python workers).

Writes ``benchmarks/results/scaling.json`` (raw numbers) and ``benchmarks/results/scaling.png``
(time against workers/slots, with the ideal lines), and prints Markdown tables.

    .venv/bin/python benchmarks/scaling.py
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, markdown_table, median, today

RESULTS = Path(__file__).resolve().parent / "results"
LEARNING_RATES = [1e-4, 2e-4, 3e-4, 5e-4, 7e-4, 1e-3, 2e-3, 3e-3]


def sleep_objective(params: dict[str, Any], data: object) -> float:
    """Sleep the configured time; the value is irrelevant."""
    time.sleep(float(params["sleep"]))
    return float(params["x"])


def cpu_case(workers: int, data: Any, args: argparse.Namespace) -> dict[str, Any]:
    """One study of the 8 CNN trials on a fresh cluster of ``workers`` x 1 core."""
    import sparktf
    from sparktf.cluster import standalone_cluster, wait_for_executors
    from sparktf.spark import session

    with (
        tempfile.TemporaryDirectory() as tmp,
        standalone_cluster(
            workers=workers, cores=1, memory="3g", state_dir=Path(tmp) / "cluster"
        ) as cluster,
    ):
        spark = session(
            cluster.master_url,
            app_name=f"bench-scaling-{workers}w",
            conf={"spark.ui.enabled": "false", "spark.executor.memory": "2g"},
        )
        try:
            wait_for_executors(spark, workers, timeout=120)
            res = sparktf.tune(
                "mnist_cnn",
                {
                    "learning_rate": sparktf.grid(LEARNING_RATES),
                    "neurons": args.neurons,
                    "epochs": args.epochs,
                },
                data=data,
                train_subset=args.train_subset,
                test_subset=args.test_subset,
                trials=len(LEARNING_RATES),
                sampler="grid",
                seed=0,
                pruner="none",
                spark=spark,
                out=Path(tmp) / "run",
                show_progress=False,
                write_report=False,
            )
        finally:
            spark.stop()
    df = res.trials
    return {
        "workers": workers,
        "wall_s": res.wall_seconds,
        "trials": len(df),
        "complete": int((df["state"] == "COMPLETE").sum()),
        "trial_s": [float(x) for x in df["duration_s"]],
        "executors": int(df["worker_pid"].nunique()),
        "best_val_accuracy": res.best_value,
    }


_HW_WORKER = """
import json, sys, time
from sparktf.keras.threads import configure_threads
configure_threads(1)
from sparktf.datasets import load_fashion_mnist
from sparktf.keras.models import build_mnist_cnn, get_family
from sparktf.keras.training import prepare_images, train_keras
from sparktf.tuning.data import subset
train, test, neurons, epochs = (int(x) for x in sys.argv[1:5])
rates = [float(x) for x in sys.argv[5:]]
fam = get_family("mnist_cnn")
data = prepare_images(subset(load_fashion_mnist(), train, test), fam.input_shape, fam.scale, 0.1)
defaults = dict(fam.defaults)
t0 = time.perf_counter()
for lr in rates:
    train_keras(build_mnist_cnn, {**defaults, "learning_rate": lr, "neurons": neurons,
                                  "epochs": epochs}, data)
print(json.dumps({"train_s": time.perf_counter() - t0}))
"""


def hardware_case(processes: int, args: argparse.Namespace) -> dict[str, Any]:
    """The same 8 trainings without Spark: ``processes`` plain Python processes (1 thread
    each) share the learning rates and run at the same time. The wall time of the training
    part (after imports and data loading, which each process does before its clock starts)
    is the machine's own limit for running trials side by side."""
    import subprocess

    shares = [LEARNING_RATES[i::processes] for i in range(processes)]
    cmd = [sys.executable, "-c", _HW_WORKER]
    fixed = [str(args.train_subset), str(args.test_subset), str(args.neurons), str(args.epochs)]
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen([*cmd, *fixed, *(str(r) for r in share)], stdout=subprocess.PIPE)
        for share in shares
    ]
    outs = [json.loads(p.communicate()[0].decode().strip().splitlines()[-1]) for p in procs]
    return {
        "processes": processes,
        "wall_s": time.perf_counter() - t0,
        "train_s": max(o["train_s"] for o in outs),
    }


def sleep_case(p: int, n: int, s: float, repeats: int) -> dict[str, Any]:
    """``repeats`` studies of ``n`` sleep trials on ``local[p]``, after a warm-up."""
    import sparktf
    from sparktf.spark import session

    spark = session(f"local[{p}]", app_name=f"bench-sleep-{p}", conf={"spark.ui.enabled": "false"})

    def study(trials: int, sleep: float) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            res = sparktf.tune(
                sleep_objective,
                {"x": sparktf.uniform(0, 1), "sleep": sleep},
                trials=trials,
                parallelism=p,
                sampler="random",
                seed=0,
                pruner="none",
                spark=spark,
                out=Path(tmp) / "run",
                show_progress=False,
                write_report=False,
                direction="minimize",
            )
        return res.wall_seconds

    try:
        study(p, 0.2)  # start the P Python workers and import the runner
        walls = [study(n, s) for _ in range(repeats)]
    finally:
        spark.stop()
    ideal = n * s / p
    return {
        "slots": p,
        "trials": n,
        "sleep_s": s,
        "walls_s": walls,
        "wall_s": median(walls),
        "ideal_s": ideal,
        "efficiency": ideal / median(walls),
    }


def plot(
    cpu: list[dict[str, Any]],
    sleep: list[dict[str, Any]],
    path: Path,
    hardware: list[dict[str, Any]] | None = None,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    if cpu:
        w = [c["workers"] for c in cpu]
        t1 = cpu[0]["wall_s"] * cpu[0]["workers"]
        a.plot(w, [c["wall_s"] for c in cpu], "o-", label="measured")
        a.plot(w, [t1 / x for x in w], "k--", label="ideal (T1 / workers)")
        if hardware:
            a.plot(
                [h["processes"] for h in hardware],
                [h["train_s"] for h in hardware],
                "s:",
                label="no Spark (plain processes)",
            )
        a.set_xticks(w)
    a.set_xlabel("workers (1 core each)")
    a.set_ylabel("study wall time (s)")
    a.set_title("8 mnist_cnn trials, standalone cluster")
    a.set_ylim(bottom=0)
    a.legend()
    if sleep:
        p = [c["slots"] for c in sleep]
        b.plot(p, [c["wall_s"] for c in sleep], "o-", label="measured (median)")
        b.plot(p, [c["ideal_s"] for c in sleep], "k--", label="ideal (N*S/P)")
        b.set_xscale("log", base=2)
        b.set_xticks(p, [str(x) for x in p])
        n_per, s = sleep[0]["trials"] // sleep[0]["slots"], sleep[0]["sleep_s"]
        b.set_title(f"sleep trials: N = {n_per}P trials of {s:g} s, local[P]")
    b.set_xlabel("task slots P")
    b.set_ylabel("study wall time (s)")
    b.set_ylim(bottom=0)
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _code_version() -> str:
    """The git commit measured, with ``+dirty`` when src/ has uncommitted changes."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    git = ["git", "-C", str(root)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "src"], capture_output=True, text=True)
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--train-subset", type=int, default=12000, help="training images per trial")
    ap.add_argument("--test-subset", type=int, default=1000)
    ap.add_argument("--neurons", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--slots", default="1,2,4,8,16")
    ap.add_argument("--trials-per-slot", type=int, default=4)
    ap.add_argument("--sleep", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=3, help="repeats of each sleep case")
    ap.add_argument("--skip-cpu", action="store_true")
    ap.add_argument("--skip-sleep", action="store_true")
    ap.add_argument("--skip-hardware", action="store_true", help="skip the no-Spark reference")
    ap.add_argument(
        "--replot", action="store_true", help="only redraw scaling.png from scaling.json"
    )
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    if args.replot:
        saved = json.loads((RESULTS / "scaling.json").read_text())
        plot(saved["cpu"], saved["sleep"], RESULTS / "scaling.png", saved.get("hardware"))
        return

    cpu: list[dict[str, Any]] = []
    if not args.skip_cpu:
        from sparktf.datasets import load_fashion_mnist

        data = load_fashion_mnist()
        for workers in (1, 2):
            cpu.append(cpu_case(workers, data, args))
            print(json.dumps(cpu[-1]), flush=True)
    hardware: list[dict[str, Any]] = []
    if not args.skip_hardware:
        for procs in (1, 2):
            hardware.append(hardware_case(procs, args))
            print(json.dumps(hardware[-1]), flush=True)
    sleep: list[dict[str, Any]] = []
    if not args.skip_sleep:
        for p in (int(x) for x in args.slots.split(",")):
            sleep.append(sleep_case(p, args.trials_per_slot * p, args.sleep, args.repeats))
            print(json.dumps(sleep[-1]), flush=True)

    info = {
        "machine": machine(),
        "date": today(),
        "code": _code_version(),
        "argv": sys.argv[1:],
        "args": vars(args),
    }
    (RESULTS / "scaling.json").write_text(
        json.dumps({**info, "cpu": cpu, "hardware": hardware, "sleep": sleep}, indent=2) + "\n"
    )
    plot(cpu, sleep, RESULTS / "scaling.png", hardware)

    print(f"\nmachine: {info['machine']}; date: {info['date']}; code: {info['code']}")
    if cpu:
        base = cpu[0]["wall_s"]
        rows = [
            [
                f"{c['workers']} x 1 core",
                c["trials"],
                c["complete"],
                f"{c['wall_s']:.1f}",
                f"{median(c['trial_s']):.1f}",
                f"{base / c['wall_s']:.2f}",
            ]
            for c in cpu
        ]
        print(
            markdown_table(
                ["cluster", "trials", "complete", "wall s", "trial s (median)", "speedup"], rows
            )
        )
        print()
    if hardware:
        base = hardware[0]["train_s"]
        rows = [
            [
                h["processes"],
                f"{h['train_s']:.1f}",
                f"{h['wall_s']:.1f}",
                f"{base / h['train_s']:.2f}",
            ]
            for h in hardware
        ]
        print("no Spark: the same trainings in plain processes, 1 thread each")
        print(markdown_table(["processes", "training s", "wall s", "speedup"], rows))
        print()
    if sleep:
        rows = [
            [
                c["slots"],
                c["trials"],
                f"{c['sleep_s']:g}",
                f"{c['wall_s']:.2f}",
                " ".join(f"{w:.2f}" for w in c["walls_s"]),
                f"{c['ideal_s']:.2f}",
                f"{c['efficiency']:.2f}",
            ]
            for c in sleep
        ]
        print(
            markdown_table(
                ["slots P", "trials N", "S s", "wall s (median)", "runs", "ideal s", "efficiency"],
                rows,
            )
        )
    print(f"\nwrote {RESULTS / 'scaling.json'} and {RESULTS / 'scaling.png'}")


if __name__ == "__main__":
    main()
