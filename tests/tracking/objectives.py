"""Objectives of the tracking tests. They run on Spark executors (shipped by value)."""

from __future__ import annotations

import time
from typing import Any

from sparktf.trial import report


def curve_prune_or_fail(params: dict[str, Any], data: Any) -> float:
    """``good`` improves for 4 epochs; ``bad`` stalls (ASHA prunes it); ``broken`` raises."""
    if params["quality"] == "broken":
        raise ValueError("this configuration cannot be trained")
    value = 0.0
    for step in range(1, 5):
        value = 0.5 + 0.1 * step if params["quality"] == "good" else 0.1
        report(step, value)
    return value


def sleep_x(params: dict[str, Any], data: Any) -> float:
    """Sleeps ``params['sleep']`` seconds and returns x."""
    time.sleep(float(params["sleep"]))
    return float(params["x"])
