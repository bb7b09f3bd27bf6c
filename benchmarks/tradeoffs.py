"""Trade-offs (issue 27): accuracy against parameters, at the same compute, four ways.

``mnist_cnn`` on a real Fashion-MNIST subset, objectives (val_accuracy max, params min), the
same compute budget (the sum of trial-epochs) for: TPE + MO-ASHA, TPE without pruning, NSGA-II
without pruning, and random search. Each arm runs as one study on local[2]; its trials are then
replayed in the order they ended, up to the budget, to draw the hypervolume of the front against
the epochs spent (``--out``/tradeoffs.png) and to find the epochs each arm needs to reach 95 % of
the best final hypervolume of all arms (target: MO-ASHA with at most half TPE's). Last, the
seed's question at subset size: the Occam pick's test accuracy and parameter count against the
most accurate trial's.

The hypervolume is taken in (validation accuracy, log10 parameters) against the reference point
(accuracy 0, log10 of the largest model's parameters + 0.1), so a tenfold smaller model counts
as much as one decade of the axis.

    .venv/bin/python benchmarks/tradeoffs.py --budget 240 --max-epochs 9 --seeds 1 2 3
    .venv/bin/python benchmarks/tradeoffs.py --smoke     # a minute: proves the script runs
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, markdown_table, median, today

ARMS = {  # name -> (sampler, pruner, trials per budget-epoch share)
    "tpe+mo-asha": ("tpe", "asha", 3.0),
    "tpe": ("tpe", "none", 1.0),
    "nsga2": ("nsga2", "none", 1.0),
    "random": ("random", "none", 1.0),
}
NEURONS = [8, 16, 32, 64, 128, 256, 512, 1024]


def space(max_epochs: int) -> dict:
    import sparktf

    return {
        "neurons": sparktf.choice(NEURONS),
        "learning_rate": sparktf.loguniform(1e-4, 1e-2),
        "epochs": max_epochs,
        "batch_size": 64,
    }


def run_arm(spark, data, arm: str, seed: int, args, out: Path) -> Path:
    """Run one arm's study; return its run directory."""
    import sparktf

    sampler, pruner, share = ARMS[arm]
    trials = max(2, math.ceil(share * args.budget / args.max_epochs))
    sparktf.tune(
        "mnist_cnn",
        space(args.max_epochs),
        data=data,
        spark=spark,
        out=out,
        trials=trials,
        sampler=sampler,
        pruner=pruner,
        objectives={"val_accuracy": "max", "params": "min"},
        min_epochs=1,
        reduction_factor=3,
        seed=seed,
        parallelism=2,
        show_progress=False,
        write_report=False,
    )
    return out


def hypervolume(points: Sequence[tuple[float, float]], ref: tuple[float, float]) -> float:
    """2-D hypervolume of (accuracy to maximise, log-params to minimise) points against
    ``ref`` = (accuracy floor, log-params ceiling)."""
    inside = sorted((-a, p) for a, p in points if a > ref[0] and p < ref[1])
    volume, best_p = 0.0, ref[1]
    for neg_a, p in inside:  # by accuracy, best first
        if p < best_p:
            volume += (-neg_a - ref[0]) * (best_p - p)
            best_p = p
    return volume


def history(run: Path, budget: int, ref: tuple[float, float]) -> list[tuple[int, float]]:
    """(epochs spent, hypervolume so far) after each trial, in the order trials ended, up to
    ``budget`` epochs."""
    import optuna

    study = optuna.load_study(study_name="sparktf", storage=f"sqlite:///{run / 'study.db'}")
    ended = sorted(
        (t for t in study.trials if "run_end" in t.user_attrs),
        key=lambda t: t.user_attrs["run_end"],
    )
    spent, points, out = 0, [], []
    for t in ended:
        epochs = int(t.user_attrs.get("epochs_completed", 0))
        if spent + epochs > budget:
            break
        spent += epochs
        if t.state.name == "COMPLETE" and t.values:
            points.append((t.values[0], math.log10(t.values[1])))
        out.append((spent, hypervolume(points, ref)))
    return out


def reach(hist: list[tuple[int, float]], target: float) -> int | None:
    """Epochs spent when the hypervolume first reached ``target``."""
    return next((e for e, hv in hist if hv >= target), None)


def seed_question(run: Path) -> dict:
    """The Occam pick against the most accurate trial: test accuracy and parameters."""
    import pandas as pd

    df = pd.read_csv(run / "trials.csv")
    done = df[df["state"] == "COMPLETE"]
    best = done.loc[done["value_val_accuracy"].idxmax()]
    pick = json.loads((run / "best" / "metrics.json").read_text())
    return {
        "occam_trial": int(pick["trial"]),
        "occam_test_accuracy": pick.get("test_accuracy"),
        "occam_params": pick.get("params"),
        "top_trial": int(best["number"]),
        "top_test_accuracy": float(best["test_accuracy"]),
        "top_params": float(best["params"]),
    }


def figure(curves: dict[str, list[list[tuple[int, float]]]], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for arm, runs in curves.items():
        for i, hist in enumerate(runs):
            if hist:
                ax.step(
                    *zip(*hist, strict=True),
                    where="post",
                    label=arm if i == 0 else None,
                    color=f"C{list(curves).index(arm)}",
                )
    ax.set_xlabel("compute spent (trial-epochs)")
    ax.set_ylabel("hypervolume (val_accuracy x log10 params)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(path, format="png", facecolor="white")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=int, default=240, help="trial-epochs per arm")
    p.add_argument("--max-epochs", type=int, default=9)
    p.add_argument("--train-subset", type=int, default=10000)
    p.add_argument("--test-subset", type=int, default=2000)
    p.add_argument("--seeds", type=int, nargs="+", default=[1])
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/tradeoffs"))
    p.add_argument("--smoke", action="store_true", help="tiny settings: proves the script runs")
    args = p.parse_args()
    if args.smoke:
        args.budget, args.max_epochs, args.train_subset, args.test_subset = 6, 2, 400, 200
    from sparktf.datasets import load_fashion_mnist
    from sparktf.keras.models import get_family
    from sparktf.spark import session
    from sparktf.tuning.data import subset

    data = subset(load_fashion_mnist(), args.train_subset, args.test_subset)
    fam = get_family("mnist_cnn")
    largest = fam.build({**fam.defaults, "neurons": max(NEURONS)}).count_params()
    ref = (0.0, math.log10(largest) + 0.1)
    spark = session("local[2]", app_name="bench-tradeoffs", conf={"spark.ui.enabled": "false"})
    args.out.mkdir(parents=True, exist_ok=True)
    curves: dict[str, list[list[tuple[int, float]]]] = {arm: [] for arm in args.arms}
    seeds: dict[str, list[dict]] = {arm: [] for arm in args.arms}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for arm in args.arms:
                run = run_arm(spark, data, arm, seed, args, Path(tmp) / f"{arm}-{seed}")
                curves[arm].append(history(run, args.budget, ref))
                seeds[arm].append(seed_question(run))
    report(args, curves, seeds, time.perf_counter() - t0)


def report(args, curves, seeds, wall: float) -> None:
    best = max((h[-1][1] for runs in curves.values() for h in runs if h), default=0.0)
    rows = []
    for arm, runs in curves.items():
        needs = [reach(h, 0.95 * best) for h in runs]
        got = [n for n in needs if n is not None]
        finals = [h[-1][1] for h in runs if h]
        occam = seeds[arm]
        rows.append(
            [
                arm,
                f"{median(finals):.3f}" if finals else "-",
                f"{median(got):.0f} ({len(got)}/{len(runs)})" if got else f"- (0/{len(runs)})",
                "; ".join(
                    f"{o['occam_test_accuracy']:.4f}/{o['occam_params']:.0f} vs "
                    f"{o['top_test_accuracy']:.4f}/{o['top_params']:.0f}"
                    for o in occam
                ),
            ]
        )
    figure(curves, args.out / "tradeoffs.png")
    print(
        f"machine: {machine()}; {today()}; {wall:.0f}s; budget {args.budget} trial-epochs, "
        f"at most {args.max_epochs} epochs a trial, seeds {args.seeds}"
    )
    header = [
        "arm",
        "final hypervolume (median)",
        "epochs to 95% of the best (median, runs)",
        "Occam pick vs most accurate: test accuracy/params",
    ]
    print(markdown_table(header, rows))
    print(f"figure: {args.out / 'tradeoffs.png'}")


if __name__ == "__main__":
    main()
