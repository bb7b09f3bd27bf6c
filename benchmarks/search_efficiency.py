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
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, markdown_table, today


def run_arm(spark, data, arm: str, seed: int, args, out: Path) -> dict:

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
        val_fraction=args.val_fraction,
        show_progress=False,
        write_report=False,
    )
    wall = time.perf_counter() - t0
    return {
        "arm": arm,
        "seed": seed,
        "wall_s": wall,
        "best_val_accuracy": res.best_value,
        "test_error": res.best_metrics.get("test_error"),
        "best_params": res.best_params,
        "counts": res.counts,
    }


def analyze(db: Path) -> dict:
    """Summarise one arm's study: compute and epochs, best validation accuracy, and the
    history of (cumulative epochs, cumulative compute, best so far) in the order trials ended."""
    import optuna

    study = optuna.load_study(study_name="sparktf", storage=f"sqlite:///{db}")
    trials = sorted(
        (t for t in study.trials if "run_end" in t.user_attrs),
        key=lambda t: t.user_attrs["run_end"],
    )
    history, epochs, compute, best, best_t = [], 0, 0.0, 0.0, None
    for t in trials:
        epochs += t.user_attrs.get("epochs_completed", 0)
        compute += t.user_attrs["compute_s"]
        if t.state.name == "COMPLETE" and t.user_attrs["metrics"]["val_accuracy"] > best:
            best, best_t = t.user_attrs["metrics"]["val_accuracy"], t
        history.append((epochs, compute, best))
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return {
        "epochs": epochs,
        "compute_s": compute,
        "best_val_accuracy": best,
        "test_error": best_t.user_attrs["metrics"]["test_error"] if best_t else None,
        "counts": counts,
        "history": history,
    }


def first_rungs(db: Path, rungs: tuple[int, ...] = (1, 3)) -> str:
    """Where A's best trial ranked among A's trials at ASHA's first rungs.

    ASHA (reduction factor 3) promotes about the top third at each rung: a best trial that
    ranked lower there is one ASHA would have stopped (short-horizon bias).
    """
    import optuna

    study = optuna.load_study(study_name="sparktf", storage=f"sqlite:///{db}")
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    best = max(done, key=lambda t: t.user_attrs["metrics"]["val_accuracy"])
    parts = []
    for r in rungs:
        at = [t.intermediate_values.get(r, float("-inf")) for t in done]
        rank = 1 + sum(v > best.intermediate_values.get(r, float("-inf")) for v in at)
        parts.append(f"{rank} of {len(done)} after {r} epoch{'s' if r > 1 else ''}")
    return "A's best trial ranked " + ", ".join(parts)


def reach(history: list[tuple[int, float, float]], target: float) -> tuple[int, float] | None:
    """Epochs and compute spent when the best-so-far first reached ``target``."""
    for epochs, compute, best in history:
        if best >= target - 1e-9:
            return epochs, compute
    return None


def _spent(r: tuple[int, float] | None, a: dict) -> str:
    if r is None:
        return "not reached"
    return (
        f"{r[0]} epochs = {r[0] / a['epochs']:.2f} of A "
        f"({r[1]:.0f} s = {r[1] / a['compute_s']:.2f} of A)"
    )


def table(workdir: Path, seeds: list[int], val_images: int) -> str:
    """The Markdown table of every seed's two arms.

    Besides the issue's measure (B's compute until a completed trial first reached A's best
    validation accuracy), the last column gives B's compute until it came within one standard
    error of A's best, sqrt(p(1 - p) / val_images): closer than that, the validation images
    cannot tell two accuracies apart.
    """
    rows = []
    for seed in seeds:
        a = analyze(workdir / f"random-{seed}.db")
        b = analyze(workdir / f"tpe+asha-{seed}.db")
        p = a["best_val_accuracy"]
        se = math.sqrt(p * (1 - p) / val_images)
        for name, arm in (("A: random, full training", a), ("B: TPE + ASHA", b)):
            got = near = ""
            if arm is b:
                got = _spent(reach(b["history"], p), a)
                near = _spent(reach(b["history"], p - se), a) + f" (1 SE = {se:.4f})"
            rows.append(
                [
                    name,
                    seed,
                    arm["epochs"],
                    f"{arm['compute_s']:.0f}",
                    f"{arm['best_val_accuracy']:.4f}",
                    f"{arm['test_error']:.4f}",
                    ", ".join(f"{v} {k.lower()}" for k, v in sorted(arm["counts"].items())),
                    got,
                    near,
                ]
            )
    return markdown_table(
        [
            "arm",
            "seed",
            "epochs trained",
            "compute (slot-s)",
            "best val acc",
            "its test error",
            "trials",
            "B: spent to reach A's best",
            "B: spent to come within 1 SE of it",
        ],
        rows,
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--train-subset", type=int, default=3000)
    ap.add_argument("--test-subset", type=int, default=1000)
    ap.add_argument(
        "--val-fraction",
        type=float,
        default=1 / 3,
        help="last fraction of the training subset held out for validation (default 1/3: "
        "1,000 images, so that the arms' best accuracies differ by more than a few images)",
    )
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--trials-random", type=int, default=10)
    ap.add_argument("--trials-asha", type=int, default=20)
    ap.add_argument(
        "--workdir",
        default="benchmarks/results/search_efficiency",
        help="where the two arms' Optuna studies are kept (ARM-SEED.db)",
    )
    ap.add_argument(
        "--analyze",
        action="store_true",
        help="only print the table of the studies already in --workdir",
    )
    args = ap.parse_args()

    workdir = Path(args.workdir)
    if not args.analyze:
        from sparktf.datasets import load_fashion_mnist
        from sparktf.spark import session
        from sparktf.tuning.data import subset

        data = subset(load_fashion_mnist(), args.train_subset, args.test_subset)
        spark = session("local[2]", app_name="bench-search", conf={"spark.ui.enabled": "false"})
        workdir.mkdir(parents=True, exist_ok=True)
        for seed in args.seeds:
            for arm in ("random", "tpe+asha"):
                with tempfile.TemporaryDirectory() as tmp:
                    out = Path(tmp) / "run"
                    # B gets its own seed: with the same one, TPE's random start-up trials
                    # would repeat A's first trials
                    r = run_arm(
                        spark, data, arm, seed if arm == "random" else seed + 1000, args, out
                    )
                    shutil.copy(out / "study.db", workdir / f"{arm}-{seed}.db")
                print(json.dumps(r), flush=True)
        spark.stop()
    print()
    print(
        f"machine: {machine()}; date: {today()}; subset: train {args.train_subset} "
        f"(the last {args.val_fraction:.0%} held out for validation), test {args.test_subset}; "
        f"max {args.epochs} epochs"
    )
    print(table(workdir, args.seeds, round(args.train_subset * args.val_fraction)))
    for seed in args.seeds:
        print(f"seed {seed}: {first_rungs(workdir / f'random-{seed}.db')}")


if __name__ == "__main__":
    main()
