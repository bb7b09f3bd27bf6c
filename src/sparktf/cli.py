"""Command-line interface: ``sparktf SUBCOMMAND ...``.

Each subcommand lives in ``sparktf.commands.<name>`` and provides ``register(subparsers)``, which
adds its parser and sets ``func`` to a function ``(args) -> exit code``. Registration imports
nothing heavy: Spark and TensorFlow are imported only when a command runs.

Every parser (top level and each subcommand) accepts the output flags ``--verbose`` (other
libraries' logs too) and ``--quiet`` (only the result and errors), so that both
``sparktf --verbose predict ...`` and ``sparktf predict --verbose ...`` work; see
:mod:`sparktf.console` for what they change.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
from argparse import SUPPRESS
from collections.abc import Sequence
from typing import Any, ClassVar

from sparktf import __version__
from sparktf.errors import SparkTFError

COMMANDS = ("cluster", "data", "demo", "doctor", "predict", "report", "tune")

# (flag, dest, help) of the output flags every parser accepts
OUTPUT_FLAGS = (
    (
        "--verbose",
        "output_verbose",
        "also show other libraries' logs and warnings (TensorFlow, Spark, Optuna, Python)",
    ),
    ("--quiet", "output_quiet", "print only the result and errors"),
)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that remembers every parser of the tree (subcommands create theirs
    with the class of their parent), so that the output flags can be added to each."""

    created: ClassVar[list[argparse.ArgumentParser]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _Parser.created.append(self)


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--verbose`` and ``--quiet`` to ``parser``, except a flag it already has (the
    parser's own then counts). Their values are only set when given, so that a subcommand's
    parser never resets a flag given before the subcommand's name."""
    group = parser.add_argument_group("console output")
    for flag, dest, text in OUTPUT_FLAGS:
        with contextlib.suppress(argparse.ArgumentError):  # the parser's own flag wins
            group.add_argument(flag, dest=dest, action="store_true", default=SUPPRESS, help=text)


def output_level(args: argparse.Namespace) -> tuple[bool, bool]:
    """``(verbose, quiet)`` from parsed arguments: the output flags, wherever given, or a
    subcommand's own flag of the same name."""
    verbose = bool(getattr(args, "output_verbose", False) or getattr(args, "verbose", False))
    quiet = bool(getattr(args, "output_quiet", False) or getattr(args, "quiet", False))
    return verbose, quiet


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    _Parser.created = []
    parser = _Parser(
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
    for each in _Parser.created:
        add_output_flags(each)
    _Parser.created = []
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sparktf`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose, quiet = output_level(args)
    if verbose and quiet:
        parser.error("--verbose and --quiet exclude each other; give one of them")
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    from sparktf.console import command_output, divert_native_stderr

    with command_output(verbose=verbose, quiet=quiet):  # (main() may be called in a program)
        if not verbose:
            divert_native_stderr()
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command: its exit code, with sparktf's errors and stop signals handled."""
    from sparktf.commands import apply_spark_options
    from sparktf.console import print_always, print_error
    from sparktf.signals import Stopped, exit_code, orderly_stop

    try:
        with orderly_stop():  # SIGTERM and SIGHUP stop the command as Ctrl-C does
            apply_spark_options(args)
            code: int = args.func(args)
    except SparkTFError as exc:
        print_error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt as exc:
        from sparktf.spark import stop_spark

        with orderly_stop():  # a second signal now ends the process at once
            stop_spark()
        name = (
            f" ({exc.args[0]})" if isinstance(exc, Stopped) and exc.signum != signal.SIGINT else ""
        )
        print_always(f"[bold yellow]interrupted{name}[/]")
        return exit_code(exc)
    return code


if __name__ == "__main__":
    sys.exit(main())
