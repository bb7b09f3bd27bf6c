"""``sparktf tune``: distributed hyperparameter search on Spark."""

from __future__ import annotations

import argparse
from typing import Any

from sparktf.commands import add_conf_option, add_spark_options
from sparktf.errors import ConfigError

EXAMPLES = """examples:
  sparktf tune --model mnist_cnn --dataset fashion-mnist --space space.yaml --trials 32 \\
      --sampler tpe --seed 7 --master 'local[4]' --out runs/fmnist-1
  sparktf tune --resume runs/fmnist-1          # continue an interrupted study
  MLFLOW_TRACKING_URI=http://mlflow:5000 sparktf tune --model mnist_cnn --space space.yaml \
      --out runs/f1 --mlflow --mlflow-experiment fashion --register-model fashion-cnn
  sparktf tune --model cnn --data photos/ --test-fraction 0.2 --space space.yaml --out runs/p1
  sparktf tune --model transfer --backbone mobilenet_v2 --weights imagenet --data photos/ \
      --space head.yaml --out runs/p2
  sparktf tune --model mlp --data customers.parquet --label-column churned --space mlp.yaml \
      --out runs/t1
  sparktf tune --objective mypkg.objectives:train --space space.json --metric loss \\
      --direction minimize --out runs/custom
  sparktf tune --model mnist_cnn --dataset fashion-mnist --space space.yaml \\
      --objective val_accuracy:max --objective params:min --constraint 'params <= 2e6' \\
      --out runs/tradeoff                      # the Pareto front; best/ by --select occam:0.005

space file (YAML or JSON), one entry per hyperparameter:
  neurons:       {type: choice, values: [64, 256, 1024]}
  learning_rate: {type: loguniform, low: 1.0e-5, high: 1.0e-2}
  batch_size:    {type: int, low: 32, high: 256, log: true}
  dropout:       {type: uniform, low: 0.2, high: 0.6}
  optimizer:     {type: grid, values: [adam, sgd]}
  epochs: 3      # fixed value

outputs in --out: study.db (Optuna), trials.csv, best/ (model.keras, params.json,
metrics.json), config.json, report.html and figures; several objectives: trials/N/ (the model
of each Pareto-front trial N, for predict --trial N)."""


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _families_help() -> str:
    """The model families with their hyperparameters' defaults, for ``--help``."""
    import textwrap

    from sparktf.keras.models import FAMILIES

    lines = ["", "", "models (--model) and their hyperparameters (defaults):"]
    for fam in FAMILIES.values():
        params = ", ".join(f"{k}={v}" for k, v in fam.defaults.items())
        lines.extend(
            textwrap.wrap(
                f"{fam.name}: {fam.description}", 94, initial_indent="  ", subsequent_indent="    "
            )
        )
        lines.extend(textwrap.wrap(params, 94, initial_indent="    ", subsequent_indent="    "))
    return "\n".join(lines)


def register(sub: Any) -> None:
    """Add ``tune`` to the CLI."""
    from sparktf.search.study import PRUNERS, SAMPLERS

    p = sub.add_parser(
        "tune",
        help="distributed hyperparameter search (each trial one Spark task)",
        description="Search hyperparameters of a Keras model (or any objective) with Optuna, "
        "running each trial as a Spark task; data is broadcast once per executor; hopeless "
        "trials are stopped early; results go to a run directory.",
        epilog=EXAMPLES + _families_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = p.add_argument_group("what to tune")
    what.add_argument(
        "--model",
        help="model family: cnn (a small convnet sized from the images), mlp (tables of "
        "numeric features), transfer (a keras.applications backbone with a new head), "
        "mnist_cnn (the reference 28x28 digits network)",
    )
    what.add_argument(
        "--objective",
        metavar="MODULE:FUNCTION|NAME:max|min",
        action="append",
        help="your own objective f(params, data) -> float|dict, or a Keras "
        "builder build(params) -> compiled model; NAME:max|min (repeatable): an objective to "
        "optimise, e.g. --objective val_accuracy:max --objective params:min (a Keras trial "
        "also measures params, model_bytes, latency_ms, train_seconds)",
    )
    what.add_argument("--space", help="search space file (YAML or JSON)")
    _data_arguments(p)
    search = p.add_argument_group("search")
    search.add_argument("--trials", type=int, help="number of trials to finish (default 20)")
    search.add_argument("--sampler", choices=SAMPLERS, help="default: tpe")
    search.add_argument("--seed", type=int, help="sampler seed (reproducible searches)")
    search.add_argument("--metric", help="metric to optimise (default: val_accuracy)")
    search.add_argument(
        "--direction",
        choices=("maximize", "minimize"),
        help="default: from the metric's name (accuracy: maximize, else minimize)",
    )
    search.add_argument(
        "--pruner",
        choices=PRUNERS,
        help="early stopping: auto (= asha when epochs > 1), asha, hyperband, median, none",
    )
    search.add_argument(
        "--constraint",
        dest="constraints",
        action="append",
        metavar="'NAME OP NUMBER'",
        help="repeatable, e.g. 'params <= 2e6' or 'latency_ms < 5': infeasible trials are kept "
        "and marked, never chosen, and the sampler is told",
    )
    search.add_argument(
        "--select",
        metavar="occam:TOL|first",
        help="several objectives: the front's model saved as best/ (default occam:0.005: the "
        "fewest parameters within TOL of the best first objective; first: the best first one)",
    )
    search.add_argument(
        "--enqueue",
        metavar="FILE",
        help="JSON/YAML list of parameter sets to try first (e.g. the defaults)",
    )
    search.add_argument(
        "--warm-start",
        metavar="RUN_DIR",
        help="give the completed trials of the study in RUN_DIR (whose space fits) to the "
        "sampler first",
    )
    search.add_argument("--min-epochs", type=int, help="first rung / warm-up epochs (default 1)")
    search.add_argument("--reduction-factor", type=int, help="ASHA/Hyperband eta (default 3)")
    run = p.add_argument_group("execution")
    add_spark_options(run)
    add_conf_option(run)
    run.add_argument(
        "--parallelism",
        type=int,
        help="trials running at once (default: the cluster's task slots; the next trials then "
        "already wait in Spark's queue, so a freed slot starts one at once)",
    )
    run.add_argument(
        "--max-retries",
        type=int,
        help="re-runs of a trial whose worker crashed or executor was lost (default 1)",
    )
    run.add_argument(
        "--trial-timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="cancel a trial's Spark job after this long",
    )
    run.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="stop the study after this long (running trials are cancelled)",
    )
    run.add_argument(
        "--max-failures",
        type=int,
        metavar="N",
        help="stop the study when its first N trials all fail with the same error (a broken "
        "objective or cluster) instead of running every trial (default 5; 0: never)",
    )
    _checkpoint_arguments(p)
    run.add_argument(
        "--no-channel",
        dest="channel",
        action="store_false",
        default=None,
        help="no report channel: trials cannot report per epoch, so nothing is pruned",
    )
    run.add_argument(
        "--dispatch",
        metavar="trial|slot",
        help="how trials reach Spark: trial (one Spark job or query per trial) or slot (one "
        "long-lived task per slot asks the driver for its next trial over the report channel: "
        "no query per trial); default: slot on Spark Connect when the executors reach the "
        "report channel, else trial",
    )
    run.add_argument(
        "--channel-address",
        dest="channel_advertise",
        metavar="HOST:PORT",
        help="address executors use to reach the driver's report channel, when it differs "
        "from the driver's own (NAT, proxies)",
    )
    out = p.add_argument_group("output")
    out.add_argument("--out", help="run directory (default: runs/study-TIME)")
    out.add_argument("--resume", metavar="RUN_DIR", help="continue the study in RUN_DIR")
    out.add_argument("--storage", help="Optuna storage URL (default: sqlite in the run dir)")
    out.add_argument("--study-name", help="study name in the storage (default: sparktf)")
    out.add_argument("--no-report", action="store_true", help="skip the HTML report at the end")
    _mlflow_arguments(p)
    p.set_defaults(func=run_tune)


def _bytes(text: str) -> int:
    """``"256M"``, ``"2G"``, ``"1000"`` (bytes; K, M, G, T are powers of 1024)."""
    units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = t[-1] if t and t[-1] in units else ""
    try:
        value = float(t[: len(t) - len(unit)] if unit else t)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a size such as 256M or 2G (bytes), got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a size >= 0, got {text!r}")
    return int(value * units[unit])


def _data_arguments(p: argparse.ArgumentParser) -> None:
    """Flags: the data (a built-in set, or your own images or table)."""
    d = p.add_argument_group(
        "data",
        "--data is a built-in name (fashion-mnist, mnist) or a path (local, hdfs://, s3://, "
        "gs://): a folder of class subfolders of images (photos/cat/*.jpg, photos/dog/*.jpg; "
        "the folder names are the classes); a Parquet or CSV table with a label column and an "
        "image column (bytes, or paths relative to the table); or a table of numeric feature "
        "columns and a label column (--model mlp)",
    )
    d.add_argument("--data", metavar="NAME|PATH", help="the data (see above)")
    d.add_argument("--dataset", default=None, help="a built-in data set (same as --data NAME)")
    d.add_argument(
        "--label-column", metavar="NAME", help="tables: the label column (default: label)"
    )
    d.add_argument(
        "--image-column",
        metavar="NAME",
        help="tables of images: the column of image bytes or paths (default: its binary column)",
    )
    d.add_argument(
        "--feature-columns",
        metavar="A,B,C",
        help="tables of features: the feature columns (default: every numeric column but the "
        "label and an id column)",
    )
    d.add_argument(
        "--id-column",
        metavar="NAME",
        help="tables of features: a column that identifies a row, never a feature (default: "
        "a column named id or *_id whose values are unique)",
    )
    d.add_argument(
        "--test-data",
        metavar="PATH",
        help="the test set, in the same form as --data (default: --test-fraction of --data)",
    )
    d.add_argument(
        "--test-fraction",
        type=float,
        help="share of --data held out for the test, stratified by class (default 0.2)",
    )
    d.add_argument(
        "--val-fraction",
        type=float,
        help="share of the training data held out for validation, stratified (default 0.1)",
    )
    d.add_argument(
        "--image-size",
        metavar="HxW",
        help="size images are resized to (default: their most common size, at most 128 on the "
        "long side; transfer: the backbone's own, 224x224 for most)",
    )
    d.add_argument(
        "--broadcast-limit",
        type=_bytes,
        metavar="SIZE",
        help="decoded data above this size is not broadcast: each executor reads it from its "
        "path once and caches it on local disk (default 256M; 0 always reads from the path)",
    )
    d.add_argument(
        "--backbone",
        help="transfer: a keras.applications model (mobilenet_v2 (default), resnet50, "
        "efficientnet_b0, ...)",
    )
    d.add_argument(
        "--weights",
        metavar="FILE|imagenet|none",
        help="transfer: the backbone's weights: a weights file, imagenet (downloaded by Keras; "
        "the default) or none (random)",
    )
    d.add_argument("--data-dir", help="directory holding the built-in data set's IDX files")
    d.add_argument(
        "--train-subset", type=int, help="built-in data: only the first N training images"
    )
    d.add_argument("--test-subset", type=int, help="built-in data: only the first N test images")


def _checkpoint_arguments(p: argparse.ArgumentParser) -> None:
    """Flags: per-epoch checkpoints of Keras trials."""
    c = p.add_argument_group(
        "checkpoints",
        "Keras trials save their training state every --checkpoint-every epochs; a trial retried "
        "after a lost worker, or continued by --resume after a lost driver, trains on from its "
        "last checkpoint. Default store: RUN_DIR/checkpoints where the executors run on this "
        "machine (local masters, sparktf cluster); elsewhere off unless --checkpoint-dir",
    )
    c.add_argument(
        "--checkpoint-dir",
        metavar="URL",
        help="checkpoint store every executor can write: a path, file://, hdfs://, s3://, "
        "gs://, abfss:// (pyarrow.fs)",
    )
    c.add_argument(
        "--checkpoint-every", type=int, metavar="N", help="epochs between checkpoints (default 1)"
    )
    c.add_argument(
        "--no-checkpoints",
        dest="checkpoints",
        action="store_false",
        default=None,
        help="save no checkpoints (a retried trial starts again from epoch 1)",
    )


def _mlflow_arguments(p: argparse.ArgumentParser) -> None:
    """Flags: tracking in MLflow."""
    ml = p.add_argument_group(
        "MLflow (pip install 'sparktf[mlflow]')",
        "one parent run per study, a nested child run per trial, the best model as an MLflow "
        "model; logged from the driver in the background",
    )
    ml.add_argument("--mlflow", action="store_true", default=None, help="track the study in MLflow")
    ml.add_argument(
        "--mlflow-tracking-uri",
        metavar="URI",
        help="tracking server or store (default: $MLFLOW_TRACKING_URI, as MLflow does)",
    )
    ml.add_argument("--mlflow-experiment", metavar="NAME", help="experiment (default: sparktf)")
    ml.add_argument(
        "--register-model",
        metavar="NAME",
        help="register the best model as a new version of the MLflow model NAME",
    )


def run_tune(args: argparse.Namespace) -> int:
    """Run (or resume) a study and print the best trial."""
    from sparktf.search.multi import is_objective_spec
    from sparktf.search.warmstart import read_enqueue
    from sparktf.tuning import tune
    from sparktf.tuning.config import field_names

    specs = [o for o in args.objective or () if is_objective_spec(o)]
    functions = [o for o in args.objective or () if not is_objective_spec(o)]
    if len(functions) > 1:
        raise ConfigError(f"--objective MODULE:FUNCTION is given {len(functions)} times; give one")
    args.objective = functions[0] if functions else None
    args.objectives = specs or None
    if args.resume:
        if args.out and args.out != args.resume:
            raise ConfigError("--resume RUN_DIR already names the run directory; drop --out")
    else:
        if bool(args.model) == bool(args.objective):
            raise ConfigError("give exactly one of --model NAME or --objective MODULE:FUNCTION")
        if not args.space:
            raise ConfigError("--space FILE is required (see 'sparktf tune --help')")
    given = {k: v for k, v in vars(args).items() if k in field_names() and v is not None}
    settings = {k: v for k, v in given.items() if k not in ("objective", "space")}
    settings["out"] = args.resume or args.out
    result = tune(
        args.model or args.objective,
        args.space,
        spark_conf=dict(args.conf or {}),
        resume=bool(args.resume),
        enqueue=read_enqueue(args.enqueue) if args.enqueue else (),
        write_report=not args.no_report,
        **settings,
    )
    return 0 if result.best_params is not None else 1
