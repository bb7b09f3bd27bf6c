"""One module per CLI subcommand; see :mod:`sparktf.cli`."""

from __future__ import annotations

import argparse
from typing import Any


def _conf(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


MASTER_HELP = "Spark master URL (default: $SPARK_MASTER or local[*])"
REMOTE_HELP = (
    "Spark Connect server, sc://HOST:PORT (default: $SPARK_REMOTE, as pyspark does); "
    "instead of --master"
)


def add_spark_options(group: Any) -> None:
    """Add ``--master`` (a classic session) and ``--remote`` (Spark Connect) to ``group``."""
    group.add_argument("--master", help=MASTER_HELP)
    group.add_argument("--remote", metavar="sc://HOST:PORT", help=REMOTE_HELP)


def apply_spark_options(args: argparse.Namespace) -> None:
    """Check ``--master``/``--remote`` before any work starts (a bad URL or both: exit 2), and
    let ``--remote`` choose Spark Connect for every session this command starts, the way
    Spark's own ``$SPARK_REMOTE`` does."""
    import os

    from sparktf.spark import resolve_master, resolve_remote

    master, remote = getattr(args, "master", None), getattr(args, "remote", None)
    if resolve_remote(remote, master) is None and master is not None:
        resolve_master(master)
    if remote is not None:
        os.environ["SPARK_REMOTE"] = remote.strip()


def add_conf_option(group: Any) -> None:
    """Add the repeatable ``--conf KEY=VALUE`` (extra Spark configuration) to ``group``."""
    group.add_argument(
        "--conf",
        type=_conf,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra Spark configuration, as spark-submit's --conf (repeatable)",
    )
