"""The trial record: what sparktf keeps about a trial in its Optuna user attributes.

The dispatcher writes it (:func:`encode`) when a trial ends; ``trials.csv``, the summary and
the report read it back (:func:`decode`). This module is the only one that knows the
attributes' names. No Spark, no TensorFlow.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    import pandas as pd

# user attribute names
PARAMS = "params"  # every hyperparameter the trial ran with (fixed ones and defaults too)
ATTEMPTS = "attempts"
WORKER_HOST = "worker_host"
WORKER_PID = "worker_pid"
RUN_START = "run_start"  # unix seconds on the executor, when the trial took its slot
RUN_END = "run_end"
COMPUTE_S = "compute_s"
EPOCHS_COMPLETED = "epochs_completed"
PRUNED_AT_EPOCH = "pruned_at_epoch"
METRICS = "metrics"
WARNINGS = "warnings"
ERROR = "error"
DATA_CACHE_HIT = "data_cache_hit"
INTERRUPTED = "interrupted"  # cut short by Ctrl-C, --timeout or a lost driver
NOT_STARTED = "not_started"  # asked (or queued in Spark) but the study stopped first
RERUN_OF = "rerun_of"  # an interrupted trial's number, on the trial that runs it again
CURVE = "curve"  # several objectives: the learning curve {step: value} (see search.moasha)
KNOWN = "known"  # measures known before training (params, model_bytes), said as it starts
WARM_START = "warm_start"  # the run directory of the earlier study it was copied from
LINEAGE = "lineage"  # the first trial of a chain of re-runs: whose checkpoints they continue
RESUMED_FROM_EPOCH = "resumed_from_epoch"  # epochs trained before the last attempt started


class TrialStatus(str, Enum):
    """A trial's state as sparktf shows it (Optuna's FAIL is split three ways)."""

    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAILED = "FAILED"
    INTERRUPTED = "INTERRUPTED"  # cut short by the study stopping; --resume runs it again
    NOT_STARTED = "NOT_STARTED"  # never ran; --resume runs it
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    WARM_START = "WARM_START"  # a trial of an earlier study given to the sampler (--warm-start)

    @property
    def counts(self) -> bool:
        """Whether the trial counts towards ``--trials``."""
        return self in (TrialStatus.COMPLETE, TrialStatus.PRUNED, TrialStatus.FAILED)


# The fixed leading columns of trials.csv; then ``params_<name>``, then the metrics.
COLUMNS = (
    "number",
    "state",  # a TrialStatus
    "value",  # the optimised metric (a pruned trial's last reported value)
    "datetime_start",  # ISO 8601 UTC: when the trial started running on its executor
    "datetime_complete",  # when it stopped running there
    "duration_s",  # datetime_complete - datetime_start
    "attempts",  # Spark task attempts used (retries after lost workers count)
    "worker_host",
    "worker_pid",
    "epochs_completed",
    "pruned_at_epoch",  # empty unless PRUNED
    "resumed_from_epoch",  # epochs already trained (a checkpoint) when its last attempt started
    "error",  # reason + traceback text for FAILED trials; why for INTERRUPTED ones
)
INT_COLUMNS = (
    "number",
    "attempts",
    "worker_pid",
    "epochs_completed",
    "pruned_at_epoch",
    "resumed_from_epoch",
)


def encode(
    *,
    attempts: int | None = None,
    host: str | None = None,
    pid: int | None = None,
    run_start: float | None = None,
    run_end: float | None = None,
    curve: Mapping[int, float] | None = None,
    metrics: Mapping[str, float] | None = None,
    pruned_at: int | None = None,
    warnings: Iterable[str] = (),
    error: str | None = None,
    interrupted: bool = False,
    not_started: bool = False,
    data_cache_hit: bool | None = None,
    resumed_from: int | None = None,
) -> dict[str, Any]:
    """The user attributes of a trial that ended (None values are left out)."""
    attrs: dict[str, Any] = {ATTEMPTS: attempts}
    if not not_started:
        attrs.update({WORKER_HOST: host, WORKER_PID: pid, RUN_START: run_start, RUN_END: run_end})
        if run_start is not None and run_end is not None:
            attrs[COMPUTE_S] = run_end - run_start
        if curve is not None:
            attrs[EPOCHS_COMPLETED] = max(curve, default=0)
    attrs.update(
        {
            METRICS: dict(metrics) if metrics is not None else None,
            PRUNED_AT_EPOCH: pruned_at,
            WARNINGS: list(warnings) or None,
            ERROR: error or None,
            DATA_CACHE_HIT: data_cache_hit,
            RESUMED_FROM_EPOCH: resumed_from,
            INTERRUPTED: True if interrupted or not_started else None,
            NOT_STARTED: True if not_started else None,
        }
    )
    return {k: v for k, v in attrs.items() if v is not None}


def lineage(user_attrs: Mapping[str, Any], number: int) -> int:
    """The trial whose checkpoints a trial continues: the first of its chain of re-runs."""
    root = user_attrs.get(LINEAGE, user_attrs.get(RERUN_OF))
    return int(root) if isinstance(root, int) else number


def is_interrupted(trial: optuna.trial.FrozenTrial) -> bool:
    """True for a trial that the study cut short (or never started): it does not count."""
    return bool(trial.user_attrs.get(INTERRUPTED))


@dataclass(frozen=True)
class TrialRecord:
    """One trial as ``trials.csv``, the summary and the report see it."""

    number: int
    state: str  # a TrialStatus value
    value: float | None
    params: Mapping[str, Any]
    curve: Mapping[int, float] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    worker_host: str | None = None
    worker_pid: int | None = None
    run_start: float | None = None
    run_end: float | None = None
    epochs_completed: int | None = None
    pruned_at_epoch: int | None = None
    resumed_from_epoch: int | None = None
    attempts: int | None = None
    error: str | None = None
    searched: tuple[str, ...] = ()  # the names Optuna sampled (the others were fixed)
    values: Mapping[str, float] = field(default_factory=dict)  # several objectives: by name
    pareto: bool | None = None  # several objectives: on the front of the feasible trials
    feasible: bool | None = None  # with constraints: whether they all hold

    @property
    def worker(self) -> str | None:
        """``host:pid``, or None when the trial never ran."""
        if self.worker_host is None and self.worker_pid is None:
            return None
        return f"{self.worker_host or '?'}:{self.worker_pid or '?'}"

    @property
    def interval(self) -> tuple[float, float] | None:
        """(run_start, run_end) on the executor's clock, when both were recorded."""
        if self.run_start is None or self.run_end is None:
            return None
        return self.run_start, self.run_end

    @property
    def compute_s(self) -> float | None:
        """Seconds the trial held its slot."""
        return None if self.interval is None else self.interval[1] - self.interval[0]

    @property
    def score(self) -> float:
        """The value as a float (NaN when there is none)."""
        return self.value if self.value is not None else math.nan

    @property
    def error_summary(self) -> str:
        """The exception's own line of the error text (see :func:`error_line`), or ''."""
        return error_line(self.error or "")

    def row(self) -> dict[str, Any]:
        """The trial's row of ``trials.csv``."""
        row: dict[str, Any] = {
            "number": self.number,
            "state": self.state,
            "value": self.value,
            **{f"value_{k}": v for k, v in self.values.items()},
            **({"pareto": self.pareto} if self.pareto is not None else {}),
            **({"feasible": self.feasible} if self.feasible is not None else {}),
            "datetime_start": _iso(self.run_start),
            "datetime_complete": _iso(self.run_end),
            "duration_s": self.compute_s,
            "attempts": self.attempts,
            "worker_host": self.worker_host,
            "worker_pid": self.worker_pid,
            "epochs_completed": self.epochs_completed,
            "pruned_at_epoch": self.pruned_at_epoch,
            "resumed_from_epoch": self.resumed_from_epoch,
            "error": self.error,
        }
        row.update({f"params_{k}": v for k, v in self.params.items() if k in self.searched})
        row.update(self.metrics)
        return row


_EXCEPTION_LINE = re.compile(
    r"^\s*((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt|Failed|Warning))"
    r"(?::\s*(.*))?$"
)


def error_line(text: str) -> str:
    """The Python exception's own last line in an error text (``ModuleNotFoundError: No module
    named 'x'``), skipping Spark's wrappers and JVM frames; else the text's last line."""
    found = None
    for line in text.splitlines():
        m = _EXCEPTION_LINE.match(line)
        if m and not m.group(1).startswith(("org.", "java.", "scala.", "py4j.", "pyspark.")):
            found = f"{m.group(1).rsplit('.', 1)[-1]}: {m.group(2)}" if m.group(2) else m.group(1)
    if found is not None:
        return found[:300]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).isoformat()


def as_number(value: Any) -> float | None:
    """``value`` as a finite float, else None."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def as_int(value: Any) -> int | None:
    """``value`` as an int (from any finite number), else None."""
    f = as_number(value)
    return int(f) if f is not None else None


def _status(trial: optuna.trial.FrozenTrial) -> TrialStatus:
    ua = trial.user_attrs
    name = trial.state.name
    if name == "FAIL":
        if ua.get(NOT_STARTED):
            return TrialStatus.NOT_STARTED
        return TrialStatus.INTERRUPTED if ua.get(INTERRUPTED) else TrialStatus.FAILED
    if ua.get(WARM_START):
        return TrialStatus.WARM_START
    return TrialStatus(name)


def is_counted(trial: optuna.trial.FrozenTrial) -> bool:
    """True for a trial that counts towards ``--trials`` once it has ended (not one cut short
    by the study, nor one copied from an earlier study)."""
    return not is_interrupted(trial) and not trial.user_attrs.get(WARM_START)


def curve_of(trial: optuna.trial.FrozenTrial) -> dict[int, float]:
    """A trial's learning curve: Optuna's intermediate values, or (several objectives) the
    curve sparktf keeps in its attributes."""
    if trial.intermediate_values:
        return {int(k): float(v) for k, v in sorted(trial.intermediate_values.items())}
    out: dict[int, float] = {}
    for k, v in (trial.user_attrs.get(CURVE) or {}).items():
        step, value = as_int(k), as_number(v)
        if step is not None and value is not None:
            out[step] = value
    return dict(sorted(out.items()))


def known_measures(attrs: Mapping[str, Any]) -> dict[str, float]:
    """A trial's measures known so far: those said before training, then its final metrics."""
    out: dict[str, float] = {}
    for source in (attrs.get(KNOWN), attrs.get(METRICS)):
        for k, v in (source or {}).items():
            number = as_number(v)
            if number is not None:
                out[str(k)] = number
    return out


def decode(trial: optuna.trial.FrozenTrial, names: Sequence[str] | None = None) -> TrialRecord:
    """A trial's record from its Optuna trial (any sparktf version's attributes); ``names``:
    the objectives of a multi-objective study."""
    ua = trial.user_attrs
    params = dict(ua.get(PARAMS) or {})
    params.update(trial.params)  # searched values win; the attribute adds the fixed ones
    values: dict[str, float] = {}
    if names and len(names) > 1:
        got = list(trial.values or [None] * len(names))
        values = {n: v for n, v in zip(names, map(as_number, got), strict=False) if v is not None}
    value = as_number(trial.values[0]) if values and trial.values else as_number(trial.value)
    curve = curve_of(trial)
    if value is None and trial.state.name == "PRUNED" and curve:
        value = curve[max(curve)]
    metrics = {
        str(k): float(v)
        for k, v in (ua.get(METRICS) or {}).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    host, error = ua.get(WORKER_HOST), ua.get(ERROR)
    return TrialRecord(
        number=trial.number,
        state=_status(trial).value,
        value=value,
        params=params,
        curve=curve,
        metrics=metrics,
        worker_host=str(host) if host is not None else None,
        worker_pid=as_int(ua.get(WORKER_PID)),
        run_start=as_number(ua.get(RUN_START)),
        run_end=as_number(ua.get(RUN_END)),
        epochs_completed=as_int(ua.get(EPOCHS_COMPLETED)),
        pruned_at_epoch=as_int(ua.get(PRUNED_AT_EPOCH)),
        resumed_from_epoch=as_int(ua.get(RESUMED_FROM_EPOCH)),
        attempts=as_int(ua.get(ATTEMPTS)),
        error=str(error) if error else None,
        searched=tuple(trial.params),
        values=values,
        feasible=all(c <= 0.0 for c in trial.constraints.values()) if trial.constraints else None,
    )


def objective_names(study: optuna.Study) -> list[str]:
    """The study's objectives by name (``metric_names``; ``value``, ``value_1``... if unset)."""
    names = study.metric_names
    if names:
        return list(names)
    n = len(study.directions)
    return ["value"] if n == 1 else [f"value_{i}" for i in range(n)]


def records(study: optuna.Study) -> list[TrialRecord]:
    """Every trial of ``study``, by number; in a multi-objective study each knows whether it is
    on the Pareto front of the completed, feasible trials (warm-start ones left out)."""
    names = objective_names(study)
    recs = [decode(t, names) for t in study.get_trials(deepcopy=False)]
    if len(names) < 2:
        return recs
    from dataclasses import replace

    from sparktf.search.multi import pareto_front

    directions = [d.name.lower() for d in study.directions]
    pool = [
        r
        for r in recs
        if r.state == TrialStatus.COMPLETE.value
        and r.feasible is not False
        and len(r.values) == len(names)
    ]
    front = {
        pool[i].number for i in pareto_front([list(r.values.values()) for r in pool], directions)
    }
    return [replace(r, pareto=r.number in front) for r in recs]


def frame(recs: Iterable[TrialRecord]) -> pd.DataFrame:
    """``trials.csv`` as a DataFrame: :data:`COLUMNS`, then params, then metrics; the integer
    columns stay integers (empty where unknown)."""
    import pandas as pd

    df = pd.DataFrame([r.row() for r in recs])
    if df.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    for col in INT_COLUMNS:
        df[col] = df[col].astype("Int64")
    return df


def counts(recs: Iterable[TrialRecord]) -> dict[str, int]:
    """Trials per state, in :class:`TrialStatus` order, states with none left out."""
    out = {s.value: 0 for s in TrialStatus}
    for r in recs:
        out[r.state] += 1
    return {k: v for k, v in out.items() if v}
