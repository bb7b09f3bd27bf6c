"""``sparktf demo``: the README's main job, a small real tuning study on local Spark."""

from __future__ import annotations

import argparse
import time
from typing import Any

from sparktf.commands import add_spark_options

DEMO_SPACE = {
    "neurons": {"type": "choice", "values": [64, 256, 1024]},
    "learning_rate": {"type": "loguniform", "low": 1e-4, "high": 1e-2},
    "epochs": 1,
}


def register(sub: Any) -> None:
    """Add ``demo`` to the CLI."""
    p = sub.add_parser(
        "demo",
        help="a small real tuning study of mnist_cnn on Fashion-MNIST (about 5 minutes)",
        description="Tune the classic mnist_cnn (neurons, learning rate; 1 epoch per trial) on "
        "a Fashion-MNIST subset with TPE on local Spark, write the run directory (study, "
        "trials.csv, best model, report) and print the best trial. The same as "
        "'sparktf tune --model mnist_cnn --dataset fashion-mnist --train-subset 8000 "
        "--test-subset 2000 --trials 10 --sampler tpe --seed 7 --space <neurons, "
        "learning_rate> --out runs/demo-TIME'.",
    )
    add_spark_options(p)
    p.add_argument("--trials", type=int, default=10, help="default: 10")
    p.add_argument("--train-subset", type=int, default=8000, help="default: 8000 images")
    p.add_argument("--test-subset", type=int, default=2000, help="default: 2000 images")
    p.add_argument("--data-dir", help="directory holding the Fashion-MNIST IDX files")
    p.add_argument("--out", help="run directory (default: runs/demo-TIME)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo study."""
    from sparktf.tuning import tune

    out = args.out or f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}"
    result = tune(
        "mnist_cnn",
        DEMO_SPACE,
        data="fashion-mnist",
        data_dir=args.data_dir,
        train_subset=args.train_subset,
        test_subset=args.test_subset,
        trials=args.trials,
        sampler="tpe",
        seed=7,
        master=args.master,
        remote=args.remote,
        out=out,
    )
    return 0 if result.best_params is not None else 1
