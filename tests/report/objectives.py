"""A fast synthetic objective for a real ``sparktf.tune`` run (shipped to executors by value)."""

from __future__ import annotations

import math
from typing import Any

from sparktf.trial import report


def synthetic_training(params: dict[str, Any], data: Any) -> dict[str, float]:
    """A learning curve whose quality depends on the learning rate and the width; diverges
    (raises) for a large learning rate with the widest network."""
    lr, neurons = float(params["learning_rate"]), int(params["neurons"])
    if lr > 0.05 and neurons >= 1024:
        raise FloatingPointError(f"loss is nan at learning rate {lr:.3g} with {neurons} neurons")
    width = 1.6 - 0.35 * math.log2(neurons / 64) / 2
    err = 0.006 + 0.02 * (abs(math.log10(lr) - math.log10(3e-3)) / width) ** 2
    acc = 0.0
    for epoch in range(1, int(params.get("epochs", 3)) + 1):
        acc = (1 - err) - 0.1 / epoch
        report(epoch, acc)
    return {"val_accuracy": acc, "test_error": err, "test_accuracy": 1 - err}
