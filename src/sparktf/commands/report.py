"""``sparktf report``: figures and an HTML report of a study, or several studies compared."""

from __future__ import annotations

import argparse
from typing import Any

from sparktf.errors import ConfigError

EXAMPLES = """examples:
  sparktf report runs/fmnist-1                     # runs/fmnist-1/report.html + *.png
  sparktf report runs/fmnist-1 --by batch_size --x learning_rate --top 20
  sparktf report --compare runs/random runs/tpe-asha --out runs/compare

figures: sensitivity (final test error against --x, default learning_rate, one line per value
of --by, default neurons; log scales), optimization history (by trial and by wall time),
hyperparameter importance (Optuna's evaluator), parallel coordinates, learning curves (pruned
trials marked where they stopped), timeline of trials per worker with slot utilisation; tables
of the top trials, pruned trials, and failed trials with their errors. report.html embeds
every figure, so it works offline and when moved alone; the PNG files lie beside it.

--compare overlays the best value so far of each study against the compute it spent (the
summed training time of its finished trials) and against wall time; it writes compare.html
and compare.png into --out."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of trials, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of trials, got {text!r}")
    return value


def register(sub: Any) -> None:
    """Add ``report`` to the CLI."""
    p = sub.add_parser(
        "report",
        help="plots and an HTML report of a study (or compare several)",
        description="Write report.html and PNG figures into the run directory of a "
        "'sparktf tune' study, showing how the training reacts to each hyperparameter; or "
        "overlay the optimization histories of several studies with --compare.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="the study's run directory")
    p.add_argument(
        "--by",
        metavar="PARAM",
        help="sensitivity figure: one line per value of this hyperparameter (default: neurons)",
    )
    p.add_argument(
        "--x",
        metavar="PARAM",
        help="sensitivity figure: hyperparameter on the x axis (default: learning_rate)",
    )
    p.add_argument(
        "--top", type=_positive_int, default=10, metavar="N", help="top trials listed (default 10)"
    )
    p.add_argument(
        "--compare",
        nargs="+",
        metavar="RUN_DIR",
        help="compare two or more studies instead (needs --out)",
    )
    p.add_argument("--out", metavar="DIR", help="--compare: directory for compare.html/png")
    p.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    """Write the report (or the comparison) and print its path."""
    if args.compare:
        if args.run_dir:
            raise ConfigError(
                "give either RUN_DIR or --compare RUN_A RUN_B ..., not both "
                "(to include RUN_DIR, add it to the --compare list)"
            )
        if not args.out:
            raise ConfigError("--compare needs --out DIR for compare.html and compare.png")
        if args.by or args.x:
            raise ConfigError("--by and --x apply to one study's report, not to --compare")
        from sparktf.report import compare

        path = compare(args.compare, args.out)
    else:
        if not args.run_dir:
            raise ConfigError("give a run directory: sparktf report RUN_DIR (see --help)")
        if args.out:
            raise ConfigError("--out applies to --compare; a report goes into its RUN_DIR")
        from sparktf.report import write_report

        path = write_report(args.run_dir, by=args.by, x=args.x, top=args.top)
    print(path)
    return 0
