"""Search efficiency: random search trained to the end (the 2016 method) against TPE + ASHA.

Both arms tune mnist_cnn on the same real Fashion-MNIST subset over the same space (neurons
and a log-scale learning rate) with the same per-trial maximum of epochs, on local[2] with one
thread per trial. Reported per run: total compute (sum over trials of the seconds each held its
slot), best validation accuracy, the test error of that trial, and for TPE+ASHA the compute
spent until a trial first reached the random arm's best validation accuracy.

    .venv/bin/python benchmarks/search_efficiency.py --seeds 1 2
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, markdown_table, today


def run_arm(spark, data, arm: str, seed: int, args, out: Path) -> dict:
    import optuna

    import sparktf

    space = {
        "neurons": sparktf.choice([64, 256, 1024]),
        "learning_rate": sparktf.loguniform(1e-5, 1e-1),
        "epochs": args.epochs,
        "batch_size": 50,
    }
    random_arm = arm == "random"
    t0 = time.perf_counter()
    res = sparktf.tune(
        "mnist_cnn",
        space,
        data=data,
        spark=spark,
        out=out,
        trials=args.trials_random if random_arm else args.trials_asha,
        sampler="random" if random_arm else "tpe",
        pruner="none" if random_arm else "asha",
        min_epochs=1,
        reduction_factor=3,
        seed=seed,
        parallelism=2,
        show_progress=False,
        write_report=False,
    )
    wall = time.perf_counter() - t0
    study = optuna.load_study(study_name="sparktf", storage=f"sqlite:///{out / 'study.db'}")
    trials = sorted(
        (t for t in study.trials if "run_end" in t.user_attrs),
        key=lambda t: t.user_attrs["run_end"],
    )
    history = []  # (cumulative compute, best val acc so far)
    compute, best = 0.0, 0.0
    for t in trials:
        compute += t.user_attrs["compute_s"]
        if t.state.name == "COMPLETE":
            best = max(best, t.user_attrs["metrics"]["val_accuracy"])
        history.append((compute, best))
    return {
        "arm": arm,
        "seed": seed,
        "wall_s": wall,
        "compute_s": compute,
        "best_val_accuracy": res.best_value,
        "test_error": res.best_metrics.get("test_error"),
        "best_params": res.best_params,
        "counts": res.counts,
        "epochs_trained": sum(t.user_attrs.get("epochs_completed", 0) for t in trials),
        "history": history,
    }


def compute_to_reach(history: list[tuple[float, float]], target: float) -> float | None:
    for compute, best in history:
        if best >= target:
            return compute
    return None


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--train-subset", type=int, default=3000)
    ap.add_argument("--test-subset", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--trials-random", type=int, default=10)
    ap.add_argument("--trials-asha", type=int, default=20)
    ap.add_argument("--json", default="benchmarks/results/search_efficiency.json")
    args = ap.parse_args()

    from sparktf.datasets import ImageDataset, load_fashion_mnist
    from sparktf.spark import session

    full = load_fashion_mnist()
    data = ImageDataset(
        full.name,
        full.x_train[: args.train_subset],
        full.y_train[: args.train_subset],
        full.x_test[: args.test_subset],
        full.y_test[: args.test_subset],
        full.class_names,
        full.source,
    )
    spark = session("local[2]", app_name="bench-search", conf={"spark.ui.enabled": "false"})
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for arm in ("random", "tpe+asha"):
                r = run_arm(spark, data, arm, seed, args, Path(tmp) / f"{arm}-{seed}")
                results.append(r)
                print(json.dumps({k: v for k, v in r.items() if k != "history"}), flush=True)
    rows = []
    for seed in args.seeds:
        a = next(r for r in results if r["arm"] == "random" and r["seed"] == seed)
        b = next(r for r in results if r["arm"] == "tpe+asha" and r["seed"] == seed)
        reach = compute_to_reach(b["history"], a["best_val_accuracy"])
        b["compute_to_reach_random_best"] = reach
        for r in (a, b):
            rows.append(
                [
                    r["arm"],
                    seed,
                    f"{r['compute_s']:.0f}",
                    r["epochs_trained"],
                    f"{r['best_val_accuracy']:.4f}",
                    f"{r['test_error']:.4f}",
                    ", ".join(f"{v} {k.lower()}" for k, v in sorted(r["counts"].items())),
                    ""
                    if r is a
                    else (
                        "not reached"
                        if reach is None
                        else f"{reach:.0f} s = {reach / a['compute_s']:.2f} of A"
                    ),
                ]
            )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(
        json.dumps(
            {"machine": machine(), "date": today(), "args": vars(args), "results": results},
            indent=1,
        )
    )
    print()
    print(
        f"machine: {machine()}; date: {today()}; subset: train {args.train_subset} "
        f"(10% held out for validation), test {args.test_subset}; max {args.epochs} epochs"
    )
    print(
        markdown_table(
            [
                "arm",
                "seed",
                "compute s",
                "epochs trained",
                "best val acc",
                "its test error",
                "trials",
                "compute to reach A's best",
            ],
            rows,
        )
    )
    spark.stop()


if __name__ == "__main__":
    main()
