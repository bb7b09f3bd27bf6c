"""Helpers shared by the benchmark scripts: machine description, medians, results table."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import subprocess
from collections.abc import Sequence


def machine() -> str:
    """Cores, memory and CPU model of this machine, in one line."""
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = platform.processor() or ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {mem_gib:.0f} GiB, {cpu or platform.machine()}, no GPU"


def today() -> str:
    """The date, ISO format."""
    return dt.date.today().isoformat()


def median(xs: Sequence[float]) -> float:
    """Median of the runs."""
    return float(statistics.median(xs))


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
