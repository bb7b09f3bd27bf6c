"""One module per CLI subcommand; see :mod:`sparktf.cli`."""

from __future__ import annotations

import argparse
from typing import Any


def _conf(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


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
