"""Command-line interface: ``sparktf SUBCOMMAND ...``.

Each subcommand lives in ``sparktf.commands.<name>`` and provides ``register(subparsers)``, which
adds its parser and sets ``func`` to a function ``(args) -> exit code``. Registration imports
nothing heavy: Spark and TensorFlow are imported only when a command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Sequence

from sparktf import __version__
from sparktf.errors import SparkTFError

COMMANDS = ("cluster", "data", "demo", "predict", "report", "tune")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="sparktf",
        description=(
            "Apache Spark + TensorFlow: distributed hyperparameter tuning of Keras models "
            "(tune) and batch inference of trained models over many images (predict)."
        ),
        epilog="Run 'sparktf COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"sparktf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"sparktf.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sparktf`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    from rich.text import Text

    from sparktf.console import console

    try:
        code: int = args.func(args)
    except SparkTFError as exc:
        console.print(Text.assemble(("error: ", "bold red"), str(exc)), soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        stop_spark()
        console.print("[bold yellow]interrupted[/]")
        return 130
    return code


def stop_spark(timeout: float = 30.0) -> None:
    """Stop this process's SparkContext, if one runs, waiting at most ``timeout`` seconds.

    After Ctrl-C the cancelled tasks' Python workers are still alive; left alone, each one
    prints a ``BrokenPipeError`` traceback through the JVM when it next writes to its closed
    socket, after the command's own last line. Stopping the context shuts the worker daemon
    down, which ends its workers without a word. A second Ctrl-C skips the wait.
    """
    if "pyspark" not in sys.modules:
        return
    import threading

    from pyspark import SparkContext

    sc = SparkContext._active_spark_context
    if sc is None:
        return

    def stop() -> None:
        with contextlib.suppress(Exception):  # the process is exiting: nothing left to save
            sc.stop()

    worker = threading.Thread(target=stop, name="sparktf-stop", daemon=True)
    worker.start()
    with contextlib.suppress(KeyboardInterrupt):
        worker.join(timeout)


if __name__ == "__main__":
    sys.exit(main())
