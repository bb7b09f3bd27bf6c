"""Executor side of slot mode: one long-lived Spark task per slot serves trial after trial.

The task asks the driver for its next trial over the report channel (``slot-next``, which also
carries the outcome of the trial before), runs it in this Python worker (which keeps the data
and TensorFlow loaded), and asks again, until the driver answers ``stop``. While a trial runs,
a watcher thread waits on the driver (``slot-watch``); when the driver cancels the trial
(``--trial-timeout``, Ctrl-C), the watcher raises KeyboardInterrupt in the trial's thread (the
worker's main thread, with Python's own SIGINT handler), which ends the trial and keeps the
worker. A trial that ignores it is ended by the driver, which interrupts this task's query.

Everything travels as JSON (the driver never unpickles what an executor sends).
"""

from __future__ import annotations

import base64
import contextlib
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from sparktf.execution.channel import ChannelAddress, post_event
from sparktf.execution.checkpoints import CheckpointPlace
from sparktf.execution.preflight import probe_function
from sparktf.execution.runner import Objective, Outcome, TrialOutcome, TrialTask, run_trial

NEXT_WAIT = 20.0  # seconds the driver holds a slot's "next" before answering "wait"
WATCH_WAIT = 5.0  # seconds it holds a running trial's "watch" (each one says the task lives)
_SLACK = 30.0  # on top of it, before the task gives the driver up


def task_to_json(task: TrialTask) -> dict[str, Any]:
    """``task`` as JSON (for the answer to ``slot-next``)."""
    place = task.checkpoints
    return {
        "number": task.number,
        "params": task.params,
        "attempt": task.attempt,
        "metric": task.metric,
        "direction": task.direction,
        "monitor": task.monitor,
        "channel": None if task.channel is None else [task.channel.url, task.channel.token],
        "best_value": task.best_value,
        "val_fraction": task.val_fraction,
        "measures": list(task.measures),
        "checkpoints": None if place is None else [place.root, place.study, place.every],
        "lineage": task.lineage,
    }


def task_from_json(d: dict[str, Any]) -> TrialTask:
    """The :class:`TrialTask` of :func:`task_to_json`."""
    channel, place = d["channel"], d["checkpoints"]
    return TrialTask(
        number=int(d["number"]),
        params=dict(d["params"]),
        attempt=int(d["attempt"]),
        metric=str(d["metric"]),
        direction=str(d["direction"]),
        monitor=str(d["monitor"]),
        channel=None if channel is None else ChannelAddress(str(channel[0]), str(channel[1])),
        best_value=None if d["best_value"] is None else float(d["best_value"]),
        val_fraction=float(d["val_fraction"]),
        measures=tuple(str(m) for m in d["measures"]),
        checkpoints=None if place is None else CheckpointPlace(place[0], place[1], int(place[2])),
        lineage=None if d["lineage"] is None else int(d["lineage"]),
    )


def outcome_to_json(o: TrialOutcome) -> dict[str, Any]:
    """``o`` as JSON (the model's bytes in base64)."""
    return {
        "number": o.number,
        "state": o.state.value,
        "value": o.value,
        "metrics": o.metrics,
        "curve": {str(k): v for k, v in o.curve.items()},
        "pruned_at": o.pruned_at,
        "error": o.error,
        "warnings": list(o.warnings),
        "host": o.host,
        "pid": o.pid,
        "run_start": o.run_start,
        "run_end": o.run_end,
        "data_cache_hit": o.data_cache_hit,
        "model_bytes": None if o.model_bytes is None else base64.b64encode(o.model_bytes).decode(),
        "resumed_from": o.resumed_from,
    }


def _opt(v: Any, kind: Callable[[Any], Any]) -> Any:
    return None if v is None else kind(v)


def outcome_from_json(d: dict[str, Any]) -> TrialOutcome:
    """The :class:`TrialOutcome` of :func:`outcome_to_json` (every field checked by type).

    Raises:
        KeyError, TypeError, ValueError: not an outcome.
    """
    return TrialOutcome(
        number=int(d["number"]),
        state=Outcome(d["state"]),
        value=_opt(d["value"], float),
        metrics={str(k): float(v) for k, v in dict(d["metrics"]).items()},
        curve={int(k): float(v) for k, v in dict(d["curve"]).items()},
        pruned_at=_opt(d["pruned_at"], int),
        error=_opt(d["error"], str),
        warnings=tuple(str(w) for w in d["warnings"]),
        host=str(d["host"]),
        pid=int(d["pid"]),
        run_start=float(d["run_start"]),
        run_end=float(d["run_end"]),
        data_cache_hit=bool(d["data_cache_hit"]),
        model_bytes=_opt(d["model_bytes"], base64.b64decode),
        resumed_from=_opt(d["resumed_from"], int),
    )


def slot_runner(
    objective: Objective,
    data: Any,
    address: ChannelAddress,
    slot: int,
    generation: int,
    probe: dict[str, Any] | None = None,
) -> Callable[[Iterator[Any]], Iterator[Any]]:
    """The ``mapInArrow`` function of slot ``slot``'s task (``generation``: which of the
    slot's queries it is): serves trials until the driver says stop; yields no rows. With
    ``probe`` (a preflight's :func:`~sparktf.execution.preflight.probe_config`), the task
    first runs the preflight's probe and sends its answer with its first request."""

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        for _ in batches:
            pass
        serve(objective, data, address, {"slot": slot, "gen": generation}, probe)
        yield from ()

    return run


def serve(
    objective: Objective,
    data: Any,
    address: ChannelAddress,
    me: dict[str, Any],
    probe: dict[str, Any] | None = None,
) -> None:
    """Ask for trials and run them until the driver answers ``stop`` (``me``: the slot and
    its task's generation, sent with each request); with ``probe``, send
    the preflight's answer first, or end at once when the probe could not reach the driver
    (its preflight job then says why).

    Raises:
        OSError: the driver cannot be reached (the task fails; the driver replaces it).
    """
    first: dict[str, Any] = {}
    if probe is not None:
        found = json.loads(probe_function(probe)(None))
        if found.get("channel"):
            return
        first = {"probe": found}
    done: dict[str, Any] | None = None
    while True:
        body = {**me, **first, "done": done}
        answer = post_event(address, "slot-next", body, NEXT_WAIT + _SLACK)
        done, first = None, {}
        if answer.get("action") == "stop":
            return
        if answer.get("action") == "run":
            tag = str(answer["tag"])
            outcome = _run_one(task_from_json(answer["task"]), tag, objective, data, address, me)
            done = {"tag": tag, "outcome": None if outcome is None else outcome_to_json(outcome)}


class _Interruptible:
    """The trial running in this thread, which a watcher may interrupt (once)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = True
        # only the main thread gets KeyboardInterrupt, and only with Python's own handler
        # (pyspark's daemon restores it in each worker): else the driver ends the task
        self.can = threading.current_thread() is threading.main_thread() and (
            signal.getsignal(signal.SIGINT) is signal.default_int_handler
        )

    def interrupt(self) -> None:
        with self.lock:
            if self.running and self.can:
                self.running = False
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    def leave(self) -> None:
        with self.lock:
            self.running = False


def _run_one(
    task: TrialTask,
    tag: str,
    objective: Objective,
    data: Any,
    address: ChannelAddress,
    me: dict[str, Any],
) -> TrialOutcome | None:
    """Run one trial; None when the driver cancelled it before it ended."""
    guard = _Interruptible()
    watcher = threading.Thread(
        target=_watch, args=(guard, address, {**me, "tag": tag}), daemon=True
    )
    outcome = None
    try:
        watcher.start()
        try:
            outcome = run_trial(task, objective, data)
        finally:
            guard.leave()
        time.sleep(0.01)  # an interrupt sent as the trial ended is delivered here, not later
    except KeyboardInterrupt:
        with contextlib.suppress(KeyboardInterrupt):  # (one sent as this one was handled)
            time.sleep(0.01)
    return outcome


def _watch(guard: _Interruptible, address: ChannelAddress, body: dict[str, Any]) -> None:
    """Wait on the driver while the trial runs; interrupt it when the driver cancels it."""
    while guard.running:
        try:
            answer = post_event(address, "slot-watch", body, WATCH_WAIT + _SLACK)
        except (OSError, ValueError):
            return  # the driver ends the task instead
        if answer.get("cancel"):
            guard.interrupt()
            return
