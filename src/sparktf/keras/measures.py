"""Built-in measures of a Keras trial besides its metrics: ``params``, ``model_bytes``,
``latency_ms`` (``train_seconds`` comes from training itself)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

LATENCY_BATCH = 64
LATENCY_REPEATS = 7


def trainable_params(model: Any) -> int:
    """The number of trainable parameters."""
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))


def model_size(model: Any) -> int:
    """The size in bytes of the model saved in Keras format."""
    from sparktf.keras.saving import model_to_bytes

    return len(model_to_bytes(model))


def latency_ms(model: Any, x: np.ndarray, batch: int = LATENCY_BATCH) -> float:
    """The median time in milliseconds to predict one batch of ``batch`` inputs (after one
    warm-up call), on this executor's cores."""
    reps = int(np.ceil(batch / max(1, len(x))))
    inputs = np.concatenate([x] * reps)[:batch] if reps > 1 else x[:batch]
    model.predict_on_batch(inputs)  # warm-up: tracing, allocation
    times = []
    for _ in range(LATENCY_REPEATS):
        t0 = time.perf_counter()
        model.predict_on_batch(inputs)
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(statistics.median(times))


def known_measures(model: Any, wanted: Sequence[str]) -> dict[str, float]:
    """What is known of a built, untrained model: ``params`` and, if ``wanted``,
    ``model_bytes`` (its size before training; the trained model's is the objective)."""
    out = {"params": float(trainable_params(model))}
    if "model_bytes" in wanted:
        out["model_bytes"] = float(model_size(model))
    return out


def final_measures(
    model: Any, x: np.ndarray, wanted: Sequence[str], saved: bytes | None = None
) -> dict[str, float]:
    """The trained model's ``params`` (always: the Occam choice needs it) and the other
    measures ``wanted``; ``saved``: the model's bytes when already saved."""
    out = {"params": float(trainable_params(model))}
    if "model_bytes" in wanted:
        out["model_bytes"] = float(len(saved) if saved is not None else model_size(model))
    if "latency_ms" in wanted:
        out["latency_ms"] = latency_ms(model, x)
    return out
