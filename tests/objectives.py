"""Objectives used by the tuning tests. They run on Spark executors (shipped by value)."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

from sparktf.trial import report


def quadratic(params: dict[str, Any], data: Any) -> dict[str, float]:
    """(x - 2)^2, reported over three steps; also returns the worker's pid."""
    x = float(params["x"])
    for step in (1, 2, 3):
        report(step, (x - 2) ** 2 + 1.0 / step)
    return {"value": (x - 2) ** 2, "pid": float(os.getpid())}


def tensorflow_square(params: dict[str, Any], data: Any) -> float:
    """x^2 computed by TensorFlow (imported in the executor's Python worker)."""
    import tensorflow as tf

    return float(tf.square(tf.constant(float(params["x"]))).numpy())


def log_and_sleep(params: dict[str, Any], data: dict[str, str]) -> float:
    """Append the params to a log; sleep long while the 'slow' flag file exists."""
    with open(data["log"], "a") as fh:
        fh.write(f"{params['x']!r}\n")
    if params["x"] >= 10 and Path(data["slow_flag"]).exists():
        time.sleep(120)
    time.sleep(0.2)
    return float(params["x"])


def raise_above_half(params: dict[str, Any], data: Any) -> float:
    """Fails for x > 0.5."""
    if params["x"] > 0.5:
        raise ValueError(f"x={params['x']:.3f} is too large for this model")
    return float(params["x"])


def nan_for_small(params: dict[str, Any], data: Any) -> float:
    """NaN for x < 0.5 (a diverged training)."""
    return math.nan if params["x"] < 0.5 else float(params["x"])


def always_raise(params: dict[str, Any], data: Any) -> float:
    """Every trial fails."""
    raise RuntimeError("the objective is broken")


def crash_first_attempt(params: dict[str, Any], data: dict[str, str]) -> float:
    """Kills its Python worker on the first attempt of each trial (marker file per x)."""
    marker = Path(data["dir"]) / f"crashed-{params['x']}"
    if not marker.exists():
        marker.write_text("1")
        os._exit(1)
    return float(params["x"])


def always_crash(params: dict[str, Any], data: Any) -> float:
    """Kills its Python worker every time."""
    os._exit(1)


def sleep_param(params: dict[str, Any], data: Any) -> float:
    """Sleeps params['sleep'] seconds."""
    time.sleep(float(params["sleep"]))
    return float(params["sleep"])


def learning_curve(params: dict[str, Any], data: Any) -> float:
    """Good configurations improve every step; bad ones stall at 0.1."""
    value = 0.0
    for step in range(1, 10):
        value = 0.5 + 0.05 * step if params["quality"] == "good" else 0.1
        report(step, value)
        time.sleep(0.05)
    return value


def _worker_index() -> int:
    """The standalone worker this task runs on (executors work in ``.../work/worker-N/...``);
    0 outside a sparktf standalone cluster."""
    import re

    m = re.search(r"/worker-(\d+)/", os.getcwd() + "/")
    return int(m.group(1)) if m else 0


def quadratic_where(params: dict[str, Any], data: Any) -> dict[str, float]:
    """(x - 2)^2 after ``params['sleep']`` seconds, with the worker index and pid as metrics."""
    time.sleep(float(params.get("sleep", 0.0)))
    x = float(params["x"])
    return {
        "value": (x - 2) ** 2,
        "worker": float(_worker_index()),
        "pid": float(os.getpid()),
    }


def sleep_and_return(params: dict[str, Any], data: Any) -> float:
    """Sleeps ``params['sleep']`` seconds (default 3), or with ``params['gate']`` (a folder)
    waits until the test opens this trial's gate (the file ``GATE/X``), and returns x; logs
    ``start X WORKER`` and ``end X WORKER`` lines to ``params['log']`` when given (fault tests
    count the attempts)."""
    x = float(params["x"])
    log = params.get("log")

    def note(what: str) -> None:
        if log:
            with open(log, "a") as fh:
                fh.write(f"{what} {x!r} {_worker_index()}\n")

    note("start")
    if params.get("gate"):
        gate = Path(params["gate"]) / repr(x)
        give_up = time.monotonic() + 600
        while not gate.exists() and time.monotonic() < give_up:
            time.sleep(0.05)
    else:
        time.sleep(float(params.get("sleep", 3.0)))
    note("end")
    return x


def meet(params: dict[str, Any], data: dict[str, str]) -> float:
    """Waits (up to 60 s) until ``params['n']`` trials run at once: each leaves a file in
    ``data['dir']``. A study of n such trials on n slots returns only once n slots were free
    at the same time and n Python workers were started (tests then run on warm workers)."""
    import uuid

    folder = Path(data["dir"])
    (folder / uuid.uuid4().hex).touch()
    give_up = time.time() + 60
    while len(list(folder.iterdir())) < int(params["n"]) and time.time() < give_up:
        time.sleep(0.05)
    return 0.0


def hold_slot(flag: str, seconds: float) -> Any:
    """A ``mapInArrow`` function (output schema ``x long``, no rows) for a job that is not a
    trial: it touches ``flag`` as its task starts, then holds the task slot ``seconds``."""

    def run(batches: Any) -> Any:
        Path(flag).touch()
        for _ in batches:
            pass
        time.sleep(seconds)
        yield from ()

    return run


def checkpointed_loop(params: dict[str, Any], data: Any = None) -> float:
    """A training loop of its own with checkpoints: ``w`` grows by x per epoch; each epoch
    trained is logged (``epoch N PID``) to ``params['log']``; waits ``params['sleep']`` per
    epoch and, after ``params['hold']`` epochs, until the file ``params['go']`` exists (a test
    kills its worker or driver meanwhile)."""
    import numpy as np

    from sparktf.trial import get_checkpoint, save_checkpoint

    ckpt = get_checkpoint()
    w = ckpt.arrays["w"] if ckpt else np.zeros(3)
    start = ckpt.step + 1 if ckpt else 1
    for epoch in range(start, int(params["epochs"]) + 1):
        w = w + float(params["x"])
        time.sleep(float(params.get("sleep", 0.0)))
        with open(params["log"], "a") as fh:
            fh.write(f"epoch {epoch} {os.getpid()}\n")
        report(epoch, float(w.sum()))
        save_checkpoint(epoch, {"w": w}, meta={"note": "mine"})
        while epoch >= int(params.get("hold", 10**9)) and not Path(params["go"]).exists():
            time.sleep(0.05)
    return float(w.sum())


def lifecycle(params: dict[str, Any], data: Any = None) -> float:
    """By ``params['mode']``: ``raise`` fails; ``hang`` sleeps 120 s (a
    timeout cancels it); ``stubborn`` ignores the first interrupts for up to 120 s (its task
    must be ended from outside); any other returns x."""
    mode, x = params["mode"], float(params.get("x", 1.0))
    if mode == "raise":
        raise ValueError(f"mode raise (x={x})")
    if mode == "hang":
        time.sleep(120)
    give_up = time.monotonic() + 120
    while mode == "stubborn" and time.monotonic() < give_up:
        try:
            time.sleep(0.05)
        except KeyboardInterrupt:
            continue
    return x


def stderr_is_quiet(params: dict[str, Any], data: Any) -> float:
    """Fails its trial unless the worker's stderr is sparktf's filter (not under --verbose)."""
    import sys

    from sparktf import TrialFailed

    name = type(sys.stderr).__name__
    if name != "QuietWorkerStderr":
        raise TrialFailed(f"the worker's stderr is a {name}")
    return float(params["x"])
