"""Several objectives: their specification, constraints, Pareto fronts and the Occam pick.

Pure Python (no Spark, no TensorFlow, no NumPy needed): the MO-ASHA pruner, ``trials.csv``'s
``pareto`` column and the choice of the saved model all rank with these functions.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sparktf.errors import ConfigError

# Built-in measures of a Keras trial, besides the metrics Keras reports.
MEASURES = ("params", "model_bytes", "latency_ms", "train_seconds")
# Measures known before training (MO-ASHA ranks each rung on them with the learning curve).
KNOWN_BEFORE_TRAINING = ("params", "model_bytes")

_DIRECTIONS = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}


def direction_of(text: str, name: str = "") -> str:
    """``max``/``maximize`` -> ``maximize``, ``min``/``minimize`` -> ``minimize``.

    Raises:
        ConfigError: another word.
    """
    d = _DIRECTIONS.get(str(text).strip().lower())
    if d is None:
        where = f" for objective {name!r}" if name else ""
        raise ConfigError(f"direction{where} must be max or min, got {text!r}")
    return d


def is_objective_spec(text: str) -> bool:
    """True for ``NAME:max`` / ``NAME:min`` (an objective), False for ``module:function``."""
    name, sep, tail = str(text).rpartition(":")
    return bool(sep and name and tail.strip().lower() in _DIRECTIONS)


def parse_objective(text: str) -> tuple[str, str]:
    """``"val_accuracy:max"`` -> ``("val_accuracy", "maximize")``.

    Raises:
        ConfigError: not ``NAME:max|min``.
    """
    name, sep, tail = str(text).rpartition(":")
    if not sep or not name.strip():
        raise ConfigError(f"--objective {text!r}: expected NAME:max or NAME:min, e.g. params:min")
    return name.strip(), direction_of(tail, name)


def normalize_objectives(objectives: Any) -> dict[str, str]:
    """A mapping ``{name: max|min}`` or a list of ``NAME:max|min`` as ``{name: maximize|...}``.

    Raises:
        ConfigError: a malformed entry or a name given twice.
    """
    if isinstance(objectives, Mapping):
        pairs = [(str(k), direction_of(v, str(k))) for k, v in objectives.items()]
    elif isinstance(objectives, (list, tuple)):
        pairs = [parse_objective(t) for t in objectives]
    else:
        raise ConfigError(
            f"objectives must be a dict {{name: 'max'|'min'}}, got {type(objectives).__name__}"
        )
    out: dict[str, str] = {}
    for name, d in pairs:
        if name in out:
            raise ConfigError(f"objective {name!r} is given twice")
        out[name] = d
    return out


def objective_specs(objectives: Mapping[str, str]) -> list[str]:
    """``{"a": "maximize"}`` -> ``["a:maximize"]``: the order-keeping form of ``config.json``."""
    return [f"{name}:{direction}" for name, direction in objectives.items()]


@dataclass(frozen=True)
class Constraint:
    """``NAME OP BOUND``, e.g. ``params <= 2e6``: a trial is feasible when it holds."""

    name: str
    op: str
    bound: float

    @classmethod
    def parse(cls, text: str) -> Constraint:
        """Read ``'params <= 2e6'``.

        Raises:
            ConfigError: not ``NAME <=|<|>=|> NUMBER``.
        """
        m = re.fullmatch(r"\s*([A-Za-z_][\w.\-]*)\s*(<=|>=|<|>)\s*(\S+)\s*", str(text))
        bound = _number(m.group(3)) if m else None
        if m is None or bound is None:
            raise ConfigError(
                f"--constraint {text!r}: expected NAME OP NUMBER with OP one of <=, <, >=, >, "
                "e.g. 'params <= 2e6' or 'latency_ms < 5'"
            )
        return cls(m.group(1), m.group(2), bound)

    def __str__(self) -> str:
        return f"{self.name} {self.op} {self.bound:g}"

    def violation(self, metrics: Mapping[str, float]) -> float:
        """Optuna's constraint value: <= 0 when feasible, else how far off (1.0 when the
        trial has no such measure)."""
        value = metrics.get(self.name)
        if value is None or not math.isfinite(value):
            return 1.0
        if self.holds(metrics):
            return min(0.0, value - self.bound if self.op[0] == "<" else self.bound - value)
        return max(abs(value - self.bound), 1e-12)

    def holds(self, metrics: Mapping[str, float]) -> bool:
        """Whether the trial's ``metrics`` satisfy the constraint."""
        value = metrics.get(self.name)
        return value is not None and math.isfinite(value) and _OPS[self.op](value, self.bound)


def _number(text: str) -> float | None:
    try:
        f = float(text)
    except ValueError:
        return None
    return f if math.isfinite(f) else None


def feasible(metrics: Mapping[str, float], constraints: Sequence[Constraint]) -> bool:
    """Whether every constraint holds."""
    return all(c.holds(metrics) for c in constraints)


# -- Pareto ranking -------------------------------------------------------------------------


def _as_minimized(point: Sequence[float], directions: Sequence[str]) -> tuple[float, ...]:
    return tuple(-v if d == "maximize" else v for v, d in zip(point, directions, strict=True))


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str]) -> bool:
    """True when ``a`` is at least as good as ``b`` everywhere and better somewhere."""
    x, y = _as_minimized(a, directions), _as_minimized(b, directions)
    return all(u <= v for u, v in zip(x, y, strict=True)) and x != y


def nondominated_fronts(
    points: Sequence[Sequence[float]], directions: Sequence[str]
) -> list[list[int]]:
    """Non-dominated sorting: the indices of ``points``, front by front (front 0 first)."""
    n = len(points)
    beaten_by = [0] * n
    beats: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if dominates(points[i], points[j], directions):
                beats[i].append(j)
                beaten_by[j] += 1
            elif dominates(points[j], points[i], directions):
                beats[j].append(i)
                beaten_by[i] += 1
    fronts: list[list[int]] = []
    current = [i for i in range(n) if beaten_by[i] == 0]
    while current:
        fronts.append(current)
        nxt = []
        for i in current:
            for j in beats[i]:
                beaten_by[j] -= 1
                if beaten_by[j] == 0:
                    nxt.append(j)
        current = sorted(nxt)
    return fronts


def crowding_distances(points: Sequence[Sequence[float]]) -> list[float]:
    """NSGA-II's crowding distance of each point within one front (the extremes: infinite)."""
    n = len(points)
    if n <= 2:
        return [math.inf] * n
    dist = [0.0] * n
    for k in range(len(points[0])):
        order = sorted(range(n), key=lambda i: points[i][k])
        low, high = points[order[0]][k], points[order[-1]][k]
        dist[order[0]] = dist[order[-1]] = math.inf
        if high == low:
            continue
        for pos in range(1, n - 1):
            i = order[pos]
            dist[i] += (points[order[pos + 1]][k] - points[order[pos - 1]][k]) / (high - low)
    return dist


def rank_keys(
    points: Sequence[Sequence[float]], directions: Sequence[str]
) -> list[tuple[int, float]]:
    """Each point's ``(front, -crowding distance)``: smaller is better."""
    keys: list[tuple[int, float]] = [(0, 0.0)] * len(points)
    for level, front in enumerate(nondominated_fronts(points, directions)):
        for i, d in zip(front, crowding_distances([points[i] for i in front]), strict=True):
            keys[i] = (level, -d)
    return keys


def pareto_front(points: Sequence[Sequence[float]], directions: Sequence[str]) -> list[int]:
    """The indices of the non-dominated points (in input order)."""
    fronts = nondominated_fronts(points, directions)
    return sorted(fronts[0]) if fronts else []


# -- choosing the saved model ---------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """``--select``: ``occam`` with a tolerance, or ``first``."""

    rule: str  # "occam" | "first"
    tolerance: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Selection:
        """Read ``occam:0.005``, ``occam`` (tolerance 0.005) or ``first``.

        Raises:
            ConfigError: another rule or a negative tolerance.
        """
        rule, _, tol = str(text).strip().partition(":")
        tolerance = _number(tol) if tol else 0.005
        if rule == "first" and not tol:
            return cls("first")
        if rule != "occam" or tolerance is None or tolerance < 0:
            raise ConfigError(
                f"--select {text!r}: expected occam:TOL (TOL >= 0, e.g. occam:0.005: the front's "
                "model with the fewest parameters within TOL of the best first objective) or first"
            )
        return cls("occam", tolerance)

    def __str__(self) -> str:
        return f"occam:{self.tolerance:g}" if self.rule == "occam" else "first"


def select(
    members: Sequence[tuple[int, float, float | None]], direction: str, how: Selection
) -> int | None:
    """The chosen trial among the front's ``(number, first objective, params)``.

    ``first``: the best first objective. ``occam``: among the members whose first objective is
    within ``tolerance`` of the best, the one with the fewest parameters (unknown counts last);
    ties go to the better first objective, then the lower number.
    """
    if not members:
        return None
    sign = -1.0 if direction == "maximize" else 1.0
    best = min(members, key=lambda m: (sign * m[1], m[0]))
    if how.rule == "first":
        return best[0]
    near = [m for m in members if sign * (m[1] - best[1]) <= how.tolerance + 1e-12]
    return min(near, key=lambda m: (m[2] if m[2] is not None else math.inf, sign * m[1], m[0]))[0]
