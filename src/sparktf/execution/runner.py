"""Executor side: run one trial inside a Spark task and describe how it ended.

Everything here runs in a Spark Python worker. Workers are reused across tasks, so the data
(prepared from the broadcast once per worker process) and TensorFlow (imported once) stay
loaded between trials. Exceptions of the objective never escape: they become a FAILED outcome
with the traceback as text. Only a crash of the worker itself fails the Spark task, and the
driver retries it.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from sparktf.console import silence_libraries
from sparktf.errors import TrialFailed, TrialPruned
from sparktf.execution.channel import ChannelAddress, ChannelClient
from sparktf.execution.checkpoints import CheckpointPlace
from sparktf.keras.threads import configure_threads, task_cpus, task_gpus, visible_gpus
from sparktf.search.study import is_better
from sparktf.trial.context import TrialContext, trial_context


class ObjectiveKind(str, Enum):
    """How an objective is run."""

    FAMILY = "family"  # a named sparktf model family (mnist_cnn)
    BUILD = "build"  # build(params) -> compiled keras.Model; sparktf trains and evaluates it
    FUNCTION = "function"  # f(params, data) -> float | dict


@dataclass(frozen=True)
class Objective:
    """What a trial runs. Travels to the executors (pickled by Spark with cloudpickle)."""

    kind: ObjectiveKind
    name: str
    fn: Callable[..., Any] | None = None
    input_shape: tuple[int, ...] = (28, 28, 1)
    scale: float = 1.0 / 255.0
    takes_data: bool = True  # FUNCTION: called as fn(params, data), else fn(params)

    def call(self, params: dict[str, Any], data: Any) -> Any:
        """Run a FUNCTION objective."""
        assert self.fn is not None
        return self.fn(params, data) if self.takes_data else self.fn(params)

    def builder(self) -> Callable[[Mapping[str, Any]], Any]:
        """The Keras model builder (FAMILY and BUILD objectives; a family sized from the
        data comes with its builder in ``fn``)."""
        if self.kind is ObjectiveKind.FAMILY and self.fn is None:
            from sparktf.keras.models import get_family

            return get_family(self.name).build
        assert self.fn is not None
        return self.fn


@dataclass(frozen=True)
class TrialTask:
    """One attempt at one trial, as sent to an executor."""

    number: int
    params: dict[str, Any]
    attempt: int
    metric: str
    direction: str
    monitor: str
    channel: ChannelAddress | None
    best_value: float | None
    val_fraction: float
    measures: tuple[str, ...] = ()  # built-in measures the study needs (params, latency_ms, ...)
    checkpoints: CheckpointPlace | None = None
    lineage: int | None = None  # the trial whose checkpoints it continues (a re-run's original)


class Outcome(str, Enum):
    """How a trial attempt ended on the executor."""

    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class TrialOutcome:
    """The executor's answer for one trial attempt (the Spark task's result)."""

    number: int
    state: Outcome
    value: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    curve: dict[int, float] = field(default_factory=dict)
    pruned_at: int | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()
    host: str = ""
    pid: int = 0
    run_start: float = 0.0
    run_end: float = 0.0
    data_cache_hit: bool = False
    model_bytes: bytes | None = None
    resumed_from: int | None = None  # epochs already trained when this attempt started

    @property
    def compute_s(self) -> float:
        """Seconds the trial held its slot on the executor."""
        return self.run_end - self.run_start


# Per worker process: prepared data keyed by its broadcast or artifact (kept across tasks).
_DATA_CACHE: dict[Any, Any] = {}


def _data_for(objective: Objective, data_bc: Any, val_fraction: float) -> tuple[Any, bool]:
    if data_bc is None:
        return None, True
    # a Connect artifact names its content; a broadcast is one per study
    # the broadcast object itself, not id(): the key keeps it alive, so a later study's
    # broadcast cannot reuse its address and be taken for it (it did: stale data)
    ident = getattr(data_bc, "key", None) or getattr(data_bc, "id", None) or data_bc
    key = (ident, objective.kind, val_fraction)
    if key in _DATA_CACHE:
        return _DATA_CACHE[key], True
    raw = data_bc.value
    if hasattr(raw, "read_on_executor"):  # too big to broadcast: read from its path here
        raw = raw.read_on_executor()
    if objective.kind is ObjectiveKind.FUNCTION:
        prepared = raw
    else:
        from sparktf.keras.training import prepare_images

        prepared = prepare_images(raw, objective.input_shape, objective.scale, val_fraction)
    _DATA_CACHE.clear()  # one study's data at a time per worker
    _DATA_CACHE[key] = prepared
    return prepared, False


def _value_from(result: Any, metric: str) -> tuple[float, dict[str, float]]:
    if isinstance(result, Mapping):
        metrics = {str(k): float(v) for k, v in result.items() if isinstance(v, (int, float))}
        if metric not in metrics:
            raise ValueError(
                f"the objective returned {sorted(result)} but not the optimised metric {metric!r}"
            )
        return metrics[metric], metrics
    if isinstance(result, (int, float)) and not isinstance(result, bool):
        return float(result), {metric: float(result)}
    if hasattr(result, "fit") and hasattr(result, "compile"):
        raise TypeError(
            "the objective returned a Keras model, not a number or a dict: to let sparktf train "
            "it, mark the builder with @sparktf.keras_builder or annotate it '-> keras.Model'"
        )
    raise TypeError(f"the objective must return a number or a dict, got {type(result).__name__}")


def run_trial(task: TrialTask, objective: Objective, data_bc: Any) -> TrialOutcome:
    """Run one trial attempt and return its outcome (never raises for objective errors)."""
    start = time.time()
    silence_libraries()  # TensorFlow's, Optuna's and Python's chatter, unless --verbose
    configure_threads(task_cpus())
    client = ChannelClient(task.channel, task.number)
    client.announce_start(task.attempt)  # its --trial-timeout counts from here
    ctx = TrialContext(task.number, dict(task.params), client, measures=task.measures)
    if task.checkpoints is not None:
        lineage = task.number if task.lineage is None else task.lineage
        ctx.checkpoints = task.checkpoints.for_trial(lineage, task.params)
    every = task.checkpoints.every if task.checkpoints is not None else None
    common: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid()}
    state, value, error, model_bytes = Outcome.COMPLETE, None, None, None
    metrics: dict[str, float] = {}
    cache_hit = False
    try:
        data, cache_hit = _data_for(objective, data_bc, task.val_fraction)
        with trial_context(ctx), visible_gpus(task_gpus()):
            if objective.kind is ObjectiveKind.FUNCTION:
                value, metrics = _value_from(objective.call(dict(task.params), data), task.metric)
            else:
                from sparktf.keras.measures import final_measures
                from sparktf.keras.saving import model_to_bytes
                from sparktf.keras.training import train_keras

                metrics, model = train_keras(
                    objective.builder(), task.params, data, task.monitor, every
                )
                value, metrics = _value_from(metrics, task.metric)
                if math.isfinite(value) and is_better(value, task.best_value, task.direction):
                    model_bytes = model_to_bytes(model)
                metrics.update(final_measures(model, data.x_val, task.measures, model_bytes))
        if ctx.pruned_at is not None:  # a Keras callback stopped training
            state, value = Outcome.PRUNED, ctx.curve.get(ctx.pruned_at)
            model_bytes = None
        elif value is None or not math.isfinite(value):
            state, error = Outcome.FAILED, f"the metric {task.metric!r} is {value} (not finite)"
            model_bytes = None
    except TrialPruned:
        state, value = Outcome.PRUNED, ctx.curve.get(ctx.pruned_at or -1)
    except KeyboardInterrupt:
        raise
    except TrialFailed as exc:  # the objective's own verdict
        state = Outcome.FAILED
        error = "\n".join(filter(None, (exc.reason, exc.traceback_text)))
    except BaseException as exc:  # the objective's own errors, sys.exit() included
        state = Outcome.FAILED
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    warnings = ((client.warning,) if client.warning and task.channel else ()) + tuple(ctx.warnings)
    if ctx.checkpoints is not None:  # the trial finished: its checkpoints have done their job
        with contextlib.suppress(OSError):
            ctx.checkpoints.clear()
    return TrialOutcome(
        number=task.number,
        state=state,
        value=value,
        metrics=metrics,
        curve=dict(ctx.curve),
        pruned_at=ctx.pruned_at,
        error=error,
        warnings=warnings,
        run_start=start,
        run_end=time.time(),
        data_cache_hit=cache_hit,
        model_bytes=model_bytes,
        resumed_from=ctx.resumed_from,
        **common,
    )
