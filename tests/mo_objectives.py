"""Objectives of the multi-objective tests (shipped to the executors by value)."""

from __future__ import annotations

from typing import Any

from sparktf.trial import known, report

# size -> (final val_accuracy, parameters): "small" is slightly less accurate than "large",
# "worse" is behind "large" on both objectives
SIZES = {"large": (0.900, 1e6), "small": (0.897, 1e4), "worse": (0.800, 2e6)}


def sized_model(params: dict[str, Any], data: Any) -> dict[str, float]:
    """A model whose parameter count is known before training, learning over three epochs."""
    acc, n = SIZES[params["size"]]
    known(params=n)
    for epoch in (1, 2, 3):
        report(epoch, acc - 0.1 / epoch)
    return {"val_accuracy": acc, "params": n, "latency_ms": n / 1e5}


def two_values(params: dict[str, Any], data: Any) -> dict[str, float]:
    """Two objectives of x in [0, 1]: x and (1 - x)^2 (a front along the whole range)."""
    x = float(params["x"])
    return {"a": x, "b": (1 - x) ** 2}


def three_values(params: dict[str, Any], data: Any) -> dict[str, float]:
    """Three objectives of x in [0, 1]."""
    x = float(params["x"])
    return {"a": x, "b": (1 - x) ** 2, "c": abs(x - 0.5)}
