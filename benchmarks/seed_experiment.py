"""The seed's experiment on full Fashion-MNIST: default CNN, tuned CNN, learning-rate sensitivity.

Three parts, each a sparktf study in its own run directory under ``--out``:

1. ``default/``: ``mnist_cnn`` with the TensorFlow tutorial's values (1024 neurons, Adam at
   1e-4, batch 50, dropout 0.5) trained E epochs, once per seed (a grid over ``seed``, no
   pruning): mean test error and spread.
2. ``tuned/``: TPE + ASHA over neurons, learning rate (log scale, 1e-5..1e-1: Adam diverges at
   the top), batch size and dropout, at most E epochs per trial, the same per-trial budget as
   the default; the best trial by validation accuracy, and its test error.
3. ``sensitivity/``: a grid of neurons × learning rate (3 × 6, log-spaced over four decades),
   ``--grid-epochs`` epochs each, no pruning: ``sparktf report``'s ``sensitivity.png``, the
   seed's figure (final test error against learning rate, one line per neurons value).

Training uses the 60,000 training images, the last twelfth (5,000) held out for validation;
the test error is measured on all 10,000 test images. Results go to
``benchmarks/results/seed_experiment.json`` and the figures to ``benchmarks/results/seed_*.png``.

    .venv/bin/python benchmarks/seed_experiment.py                      # the full run (~1.5 h)
    .venv/bin/python benchmarks/seed_experiment.py --resume             # go on after a stop
    .venv/bin/python benchmarks/seed_experiment.py --toy --out /tmp/toy # a few hundred images

An interrupted run goes on with ``--resume``: a finished part is read back (its ``part.json``),
an unfinished one continues its study (``sparktf.tune(resume=True)``), the plan is the one saved
in ``OUT/plan.json``.

Why E = 3 epochs, 20 tuned trials and 2-epoch grid points (measured on this 2-core machine,
2026-12-01): one epoch of the reference CNN (1024 neurons, batch 50) on 55,000 images took
89-97 s on one thread with the other core idle, and 189 s while another process shared the
cores; the plan assumes 150 s per trial-epoch with two trials at a time, one thread each, so
75 s of wall time per trial-epoch, and about 96 trial-epochs in two hours before start-up,
evaluation (about 5 s per trial for the 10,000 test images, 2-3 s per epoch for validation)
and the reports. The parts cost (counting every epoch at the reference CNN's price):

- default: 2 seeds × 3 epochs = 6 trial-epochs;
- tuned: 20 trials under ASHA (first rung 1 epoch, reduction factor 3): every trial trains 1
  epoch and about a third go on to 3, about 20 + 7 × 2 ≈ 33 trial-epochs (asynchronous ASHA
  promotes some early trials more easily; smaller networks and larger batches cost less,
  batch 32 about a third more);
- sensitivity: 18 points × 2 epochs = 36 trial-epochs.

About 75 trial-epochs, about 95 minutes at 150 s (about 60 at 95 s), which leaves room for the
noise of a shared machine. E = 3 puts ASHA's second rung on the last epoch, so every trial is
judged after one epoch before it spends the full budget; a trial that reaches epoch 3 outside
the top third of the trials at that rung is recorded PRUNED although it trained to the end (no
test error), but the best trial by validation accuracy is always COMPLETE. Twenty trials give
TPE its random start-up trials and about as many guided ones. Two epochs per grid point show the
shape the figure is about (slow training at the bottom of the learning rates, divergence at the
top) at two thirds of the price of E.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, today

HERE = Path(__file__).resolve().parent
RESULTS_JSON = "seed_experiment.json"
PLAN_JSON = "plan.json"
PART_JSON = "part.json"
WALL_LOG = "wall.jsonl"
PARTS = ("default", "tuned", "sensitivity")
# the TensorFlow tutorial's values (mnist_cnn's defaults, written out so the record shows them)
TUTORIAL = {
    "neurons": 1024,
    "learning_rate": 1e-4,
    "batch_size": 50,
    "dropout": 0.5,
    "optimizer": "adam",
}
# (part, figure written by sparktf report) -> name in the results folder
FIGURES = {
    ("sensitivity", "sensitivity.png"): "seed_sensitivity.png",
    ("tuned", "history.png"): "seed_tuned_history.png",
    ("tuned", "learning_curves.png"): "seed_tuned_learning_curves.png",
}
REQUIRED_FIGURES = ("seed_sensitivity.png",)
REFERENCE_FIT_IMAGES = 55_000  # what --epoch-seconds is measured on


def _log_grid(low: float, high: float, n: int) -> tuple[float, ...]:
    """``n`` log-spaced values from ``low`` to ``high``, rounded to 3 significant digits."""
    a, b = math.log10(low), math.log10(high)
    return tuple(float(f"{10 ** (a + (b - a) * i / (n - 1)):.3g}") for i in range(n))


@dataclass(frozen=True)
class Plan:
    """Everything that sizes the experiment; saved in ``OUT/plan.json`` and reused by --resume."""

    epochs: int = 3
    trials: int = 20
    grid_epochs: int = 2
    seeds: tuple[int, ...] = (1, 2)
    tuned_seed: int = 7
    min_epochs: int = 1
    reduction_factor: int = 3
    tuned_neurons: tuple[int, ...] = (64, 128, 256, 512, 1024)
    tuned_batch_sizes: tuple[int, ...] = (32, 50, 100, 200)
    tuned_learning_rate: tuple[float, float] = (1e-5, 1e-1)
    tuned_dropout: tuple[float, float] = (0.0, 0.7)
    grid_neurons: tuple[int, ...] = (64, 256, 1024)
    grid_learning_rates: tuple[float, ...] = _log_grid(1e-5, 1e-1, 6)
    val_fraction: float = 1 / 12
    train_subset: int | None = None
    test_subset: int | None = None
    toy: bool = False

    @classmethod
    def for_toy(cls) -> Plan:
        """A few hundred images, two tuned trials, one epoch, a 2 × 2 grid."""
        return cls(
            epochs=1,
            trials=2,
            grid_epochs=1,
            grid_neurons=(64, 256),
            grid_learning_rates=(1e-3, 1e-1),
            val_fraction=0.25,
            train_subset=400,
            test_subset=200,
            toy=True,
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        """Read back :func:`dataclasses.asdict`'s JSON (lists become tuples)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    def check(self) -> None:
        """Raise SystemExit with a message for sizes that cannot work."""
        for name in ("epochs", "trials", "grid_epochs"):
            if getattr(self, name) < 1:
                raise SystemExit(f"--{name.replace('_', '-')} must be at least 1")
        if len(self.seeds) < 1 or len(set(self.seeds)) != len(self.seeds):
            raise SystemExit(f"--seeds must be distinct integers, got {list(self.seeds)}")

    def space(self, part: str) -> dict[str, Any]:
        """The search space of one part."""
        import sparktf

        if part == "default":
            return {**TUTORIAL, "epochs": self.epochs, "seed": sparktf.grid(list(self.seeds))}
        if part == "tuned":
            return {
                "neurons": sparktf.choice(list(self.tuned_neurons)),
                "learning_rate": sparktf.loguniform(*self.tuned_learning_rate),
                "batch_size": sparktf.choice(list(self.tuned_batch_sizes)),
                "dropout": sparktf.uniform(*self.tuned_dropout),
                "optimizer": "adam",
                "epochs": self.epochs,
            }
        return {
            **TUTORIAL,
            "neurons": sparktf.grid(list(self.grid_neurons)),
            "learning_rate": sparktf.grid(list(self.grid_learning_rates)),
            "epochs": self.grid_epochs,
        }

    def study(self, part: str) -> dict[str, Any]:
        """``sparktf.tune`` keywords of one part besides the space and the run directory."""
        if part == "default":
            return {"trials": len(self.seeds), "sampler": "grid", "pruner": "none", "seed": 0}
        if part == "tuned":
            return {
                "trials": self.trials,
                "sampler": "tpe",
                "pruner": "asha",
                "min_epochs": self.min_epochs,
                "reduction_factor": self.reduction_factor,
                "seed": self.tuned_seed,
            }
        n = len(self.grid_neurons) * len(self.grid_learning_rates)
        return {"trials": n, "sampler": "grid", "pruner": "none", "seed": 0}

    def trial_epochs(self) -> dict[str, float]:
        """Expected trial-epochs per part (ASHA keeping a 1/factor share at each rung)."""
        grid = len(self.grid_neurons) * len(self.grid_learning_rates)
        return {
            "default": float(len(self.seeds) * self.epochs),
            "tuned": self.trials * asha_epochs(self.epochs, self.min_epochs, self.reduction_factor),
            "sensitivity": float(grid * self.grid_epochs),
        }


def asha_epochs(max_epochs: int, min_epochs: int, factor: int) -> float:
    """Expected epochs of one trial under successive halving that keeps 1/``factor`` of the
    trials at each rung (rungs at ``min_epochs * factor**k`` epochs, up to ``max_epochs``)."""
    done = min(min_epochs, max_epochs)
    expected, share, rung = float(done), 1.0, min_epochs
    while done < max_epochs:
        rung *= factor
        share /= factor
        nxt = min(rung, max_epochs)
        expected += share * (nxt - done)
        done = nxt
    return expected


def task_slots(master: str) -> int:
    """Trials at a time on a local master (``local[N]``, ``local[*]``, ``local``); 2 otherwise."""
    m = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\d+)?\])?", master.strip())
    if not m:
        return 2
    n = m.group(1)
    return (os.cpu_count() or 1) if n == "*" else int(n or 1)


# -- images ----------------------------------------------------------------------------------


def image_counts(plan: Plan) -> dict[str, int]:
    """Training images (fit + validation), the validation share and test images of the plan."""
    from sparktf.datasets import load

    ds = load("fashion-mnist")
    n_train = min(plan.train_subset or len(ds.x_train), len(ds.x_train))
    n_test = min(plan.test_subset or len(ds.x_test), len(ds.x_test))
    n_val = max(1, round(n_train * plan.val_fraction))  # as sparktf's prepare_images splits
    return {
        "train_images": n_train,
        "fit_images": n_train - n_val,
        "validation_images": n_val,
        "test_images": n_test,
    }


def print_plan(plan: Plan, images: dict[str, int], master: str, epoch_seconds: float) -> dict:
    """Print the trial-epochs of each part and the estimated time; return the estimate."""
    slots = task_slots(master)
    per = plan.trial_epochs()
    total = sum(per.values())
    seconds = total * epoch_seconds * images["fit_images"] / REFERENCE_FIT_IMAGES / slots
    grid = f"{len(plan.grid_neurons)} neurons x {len(plan.grid_learning_rates)} learning rates"
    lines = {
        "default": f"{len(plan.seeds)} seeds x {plan.epochs} epochs, tutorial values",
        "tuned": f"{plan.trials} trials TPE + ASHA (min {plan.min_epochs}, factor "
        f"{plan.reduction_factor}), at most {plan.epochs} epochs",
        "sensitivity": f"{grid} x {plan.grid_epochs} epochs, no pruning",
    }
    print(
        f"plan: {images['fit_images']:,} training + {images['validation_images']:,} validation "
        f"images, {images['test_images']:,} test images; {slots} trials at a time on {master}"
    )
    for part in PARTS:
        print(f"  {part:<12} {lines[part]:<70} ~{per[part]:.0f} trial-epochs")
    print(
        f"  total ~{total:.0f} trial-epochs, about {seconds / 60:.0f} min at {epoch_seconds:.0f} s "
        f"per trial-epoch of the reference CNN on {REFERENCE_FIT_IMAGES:,} images",
        flush=True,
    )
    return {"trial_epochs": per, "seconds": seconds, "epoch_seconds": epoch_seconds}


# -- parts -----------------------------------------------------------------------------------


def _num(v: Any) -> Any:
    """A JSON-friendly number (None for NaN/missing)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    if math.isnan(f):
        return None
    return int(f) if f.is_integer() and not isinstance(v, float) else f


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {str(k): (_num(v) if not isinstance(v, str) else v) for k, v in d.items()}


def summarize(part: str, result: Any, plan: Plan) -> dict[str, Any]:
    """The part's record from its :class:`sparktf.TuneResult` (the whole study, resumed or not)."""
    df = result.trials
    finished = df[df["state"].isin(["COMPLETE", "PRUNED", "FAILED"])]
    if "interrupted" in finished.columns:
        finished = finished[finished["interrupted"] != True]  # noqa: E712 (NaN-safe)
    rec: dict[str, Any] = {
        "run_dir": str(result.run_dir),
        "counts": {k: int(v) for k, v in result.counts.items()},
        "finished_trials": len(finished),
        "compute_seconds": float(df["duration_s"].fillna(0).sum()),
        "trial_epochs": int(df["epochs_completed"].fillna(0).sum()),
    }
    done = df[df["state"] == "COMPLETE"]
    if part == "default":
        runs = [
            {
                "seed": int(r["params_seed"]),
                "test_error": float(r["test_error"]),
                "val_accuracy": float(r["val_accuracy"]),
            }
            for _, r in done.sort_values("params_seed").iterrows()
        ]
        errors = [r["test_error"] for r in runs]
        rec.update(
            test_error=statistics.fmean(errors) if errors else None,
            test_error_std=statistics.stdev(errors) if len(errors) > 1 else 0.0,
            test_error_min=min(errors, default=None),
            test_error_max=max(errors, default=None),
            seeds=runs,
            params={**TUTORIAL, "epochs": plan.epochs},
        )
    elif part == "tuned":
        best = done.loc[done["value"].idxmax()] if len(done) else None
        rec.update(
            test_error=_num(result.best_metrics.get("test_error")),
            val_accuracy=_num(result.best_value),
            trial=int(best["number"]) if best is not None else None,
            params=_jsonable(dict(result.best_params or {})),
        )
    else:
        rec["points"] = [
            {
                "neurons": int(r["params_neurons"]),
                "learning_rate": float(r["params_learning_rate"]),
                "test_error": _num(r.get("test_error")),
                "val_accuracy": _num(r.get("val_accuracy")),
                "state": r["state"],
            }
            for _, r in df.sort_values(["params_neurons", "params_learning_rate"]).iterrows()
        ]
    return rec


def run_part(part: str, plan: Plan, out: Path, args: argparse.Namespace, spark: Any) -> dict:
    """Run (or continue, or read back) one part and return its record."""
    from sparktf.rundir import RunDir

    run = RunDir(out / part)
    marker = run.path / PART_JSON
    if marker.is_file():
        print(f"{part}: finished earlier, read back from {marker}", flush=True)
        return dict(json.loads(marker.read_text()))
    import sparktf

    holds = run.config.exists() or run.database.exists()
    kw = plan.study(part)
    common = {
        "data": "fashion-mnist",
        "out": str(run.path),
        "master": args.master,
        "spark": spark,
        "show_progress": not args.no_progress,
        # the parts whose figures are copied; `sparktf report OUT/default` writes the other
        "write_report": any(p == part for p, _ in FIGURES),
    }
    print(f"{part}: {'continuing the study' if holds else 'starting'} in {run.path}", flush=True)
    t0 = time.perf_counter()
    try:
        if holds:
            result = sparktf.tune("mnist_cnn", trials=kw["trials"], resume=True, **common)
        else:
            result = sparktf.tune(
                "mnist_cnn",
                plan.space(part),
                val_fraction=plan.val_fraction,
                train_subset=plan.train_subset,
                test_subset=plan.test_subset,
                **kw,
                **common,
            )
    finally:
        _log_wall(out, part, time.perf_counter() - t0)
    rec = summarize(part, result, plan)
    if rec["finished_trials"] < kw["trials"]:
        raise SystemExit(
            f"{part}: {rec['finished_trials']} of {kw['trials']} trials finished; "
            f"continue with --resume --out {out}"
        )
    _ensure_figures(part, run.path)
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps(rec, indent=2, sort_keys=True) + "\n")
    tmp.replace(marker)
    return rec


def _ensure_figures(part: str, run_dir: Path) -> None:
    """Write the study's report again when a figure this experiment copies is missing."""
    wanted = [name for (p, name) in FIGURES if p == part]
    if wanted and not all((run_dir / n).is_file() for n in wanted):
        from sparktf.report import write_report

        write_report(run_dir)


def _log_wall(out: Path, part: str, seconds: float) -> None:
    with (out / WALL_LOG).open("a") as fh:
        fh.write(json.dumps({"part": part, "seconds": seconds, "date": today()}) + "\n")


def wall_seconds(out: Path) -> dict[str, float]:
    """Wall time per part of every call that ran it, interrupted ones included."""
    log = out / WALL_LOG
    lines = log.read_text().splitlines() if log.is_file() else []
    walls = dict.fromkeys(PARTS, 0.0)
    for entry in (json.loads(line) for line in lines if line):
        walls[entry["part"]] = walls.get(entry["part"], 0.0) + entry["seconds"]
    return walls


# -- results ---------------------------------------------------------------------------------


def copy_figures(out: Path, results: Path) -> list[str]:
    """Copy the parts' figures into ``results`` under their ``seed_*`` names."""
    copied = []
    for (part, name), target in FIGURES.items():
        src = out / part / name
        if src.is_file():
            shutil.copyfile(src, results / target)
            copied.append(target)
    missing = [f for f in REQUIRED_FIGURES if f not in copied]
    if missing:
        raise SystemExit(f"figure(s) {', '.join(missing)} missing: see the parts' report.html")
    return copied


def results_record(
    plan: Plan,
    images: dict[str, int],
    parts: dict[str, dict],
    out: Path,
    estimate: dict,
    argv: list[str],
) -> dict[str, Any]:
    """The JSON written to ``seed_experiment.json``."""
    default, tuned = parts["default"], parts["tuned"]
    reduction = None
    if default.get("test_error") and tuned.get("test_error") is not None:
        reduction = 1.0 - tuned["test_error"] / default["test_error"]
    return {
        "dataset": "fashion-mnist",
        **images,
        "epochs_per_trial": plan.epochs,
        "trials": plan.trials,
        "grid_epochs": plan.grid_epochs,
        "default": default,
        "tuned": tuned,
        "sensitivity": parts["sensitivity"],
        "relative_error_reduction": reduction,
        "compute_seconds": sum(p["compute_seconds"] for p in parts.values()),
        "compute_seconds_by_part": {k: p["compute_seconds"] for k, p in parts.items()},
        "trial_epochs_by_part": {k: p["trial_epochs"] for k, p in parts.items()},
        "wall_seconds": sum(wall_seconds(out).values()),
        "wall_seconds_by_part": wall_seconds(out),
        "plan": asdict(plan),
        "estimate": estimate,
        "run_dir": str(out),
        "machine": machine(),
        "date": today(),
        "command": "python benchmarks/seed_experiment.py " + " ".join(argv),
    }


def load_plan(args: argparse.Namespace, out: Path) -> Plan:
    """The plan from the flags, or with --resume the one saved in the run directory."""
    saved = out / PLAN_JSON
    if args.resume and saved.is_file():
        plan = Plan.from_dict(json.loads(saved.read_text()))
        print(f"resume: the plan of {saved} (sizing flags are not used)")
        return plan
    if not args.resume and (saved.exists() or any((out / p).exists() for p in PARTS)):
        raise SystemExit(f"{out} holds an earlier run: continue it with --resume, or choose --out")
    plan = Plan.for_toy() if args.toy else Plan()
    flags = {
        "epochs": args.epochs,
        "trials": args.trials,
        "grid_epochs": args.grid_epochs,
        "seeds": tuple(args.seeds) if args.seeds else None,
    }
    plan = replace(plan, **{k: v for k, v in flags.items() if v is not None})
    plan.check()
    out.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(asdict(plan), indent=2) + "\n")
    return plan


def run_experiment(args: argparse.Namespace, spark: Any = None) -> dict[str, Any]:
    """Run (or resume) the three parts and write the results; return the results record."""
    out = Path(args.out or ("runs/seed_experiment_toy" if args.toy else "runs/seed_experiment"))
    results = Path(args.results or (out / "results" if args.toy else HERE / "results"))
    plan = load_plan(args, out)
    images = image_counts(plan)
    estimate = print_plan(plan, images, args.master, args.epoch_seconds)
    parts = {part: run_part(part, plan, out, args, spark) for part in PARTS}
    results.mkdir(parents=True, exist_ok=True)
    record = results_record(plan, images, parts, out, estimate, args.argv)
    record["figures"] = copy_figures(out, results)
    path = results / RESULTS_JSON
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    d, t = parts["default"], parts["tuned"]
    print(
        f"default: test error {d['test_error']} (std {d['test_error_std']}) over seeds "
        f"{[s['seed'] for s in d['seeds']]}; tuned: test error {t['test_error']} with "
        f"{t['params']}"
    )
    print(
        f"compute {record['compute_seconds']:.0f} s, wall {record['wall_seconds']:.0f} s; "
        f"results in {path}"
    )
    return record


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--epochs", type=int, help="E: epochs per trial, default and tuned (3)")
    ap.add_argument("--trials", type=int, help="tuned trials (20)")
    ap.add_argument("--grid-epochs", type=int, help="epochs per sensitivity grid point (2)")
    ap.add_argument("--seeds", type=int, nargs="+", help="seeds of the default (1 2)")
    ap.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    ap.add_argument("--toy", action="store_true", help="a few hundred images, a tiny plan")
    ap.add_argument("--out", help="run directories (default runs/seed_experiment[_toy])")
    ap.add_argument(
        "--results", help="JSON and figures (default benchmarks/results; with --toy OUT/results)"
    )
    ap.add_argument("--resume", action="store_true", help="go on with the run in --out")
    ap.add_argument(
        "--epoch-seconds",
        type=float,
        default=150.0,
        help="for the estimate: seconds per trial-epoch of the reference CNN on 55,000 images "
        "with the planned trials at a time (default 150)",
    )
    ap.add_argument("--no-progress", action="store_true", help="no live progress display")
    args = ap.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the results' "command"
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the experiment; 130 after Ctrl-C, 1 for a sparktf error."""
    args = parse_args(argv)
    from sparktf import SparkTFError

    try:
        run_experiment(args)
    except KeyboardInterrupt:
        print("interrupted: continue with the same command and --resume", file=sys.stderr)
        return 130
    except SparkTFError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if "pyspark" in sys.modules:
            from pyspark.sql import SparkSession

            active = SparkSession.getActiveSession()
            if active is not None:
                active.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
