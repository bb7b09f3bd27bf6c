"""Declarative search spaces: from Python or a YAML/JSON file, validated with clear errors.

File format (YAML or JSON), one entry per hyperparameter::

    neurons:       {type: choice, values: [64, 256, 1024]}
    learning_rate: {type: loguniform, low: 1.0e-5, high: 1.0e-2}
    batch_size:    {type: int, low: 32, high: 256, log: true}
    dropout:       {type: uniform, low: 0.2, high: 0.6}
    optimizer:     {type: grid, values: [adam, sgd]}
    epochs: 3      # a plain value: fixed, not searched

This module imports neither Spark nor TensorFlow.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparktf.errors import ConfigError

if TYPE_CHECKING:
    import optuna


class Kind(str, Enum):
    """The type of one hyperparameter's domain."""

    CHOICE = "choice"
    UNIFORM = "uniform"
    LOGUNIFORM = "loguniform"
    INT = "int"
    GRID = "grid"
    FIXED = "fixed"


_KIND_HELP = "choice, uniform, loguniform, int, grid (or a plain value for a fixed one)"


@dataclass(frozen=True)
class Param:
    """One hyperparameter's domain.

    Attributes:
        name: the hyperparameter's name.
        kind: its domain type.
        low, high: bounds (uniform, loguniform, int), inclusive.
        values: the candidates (choice, grid) or the single value (fixed).
        log: sample an int on a log scale.
        step: an int's step.
    """

    name: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    values: tuple[Any, ...] = ()
    log: bool = False
    step: int = 1

    def suggest(self, trial: optuna.Trial) -> Any:
        """Ask an Optuna trial for a value of this hyperparameter."""
        if self.kind is Kind.FIXED:
            return self.values[0]
        if self.kind in (Kind.CHOICE, Kind.GRID):
            return trial.suggest_categorical(self.name, list(self.values))
        if self.kind is Kind.INT:
            return trial.suggest_int(
                self.name, int(self.low or 0), int(self.high or 0), step=self.step, log=self.log
            )
        return trial.suggest_float(
            self.name, float(self.low or 0), float(self.high or 0), log=self.kind is Kind.LOGUNIFORM
        )

    def grid_values(self) -> list[Any]:
        """The values a grid search tries for this hyperparameter.

        Raises:
            ConfigError: a continuous domain has no grid.
        """
        if self.kind in (Kind.CHOICE, Kind.GRID, Kind.FIXED):
            return list(self.values)
        if self.kind is Kind.INT and not self.log:
            return list(range(int(self.low or 0), int(self.high or 0) + 1, self.step))
        raise ConfigError(
            f"hyperparameter {self.name!r} is {self.kind.value} and has no grid: give it "
            "'type: grid' with explicit 'values' to use --sampler grid"
        )

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is in this hyperparameter's domain."""
        if self.kind in (Kind.CHOICE, Kind.GRID, Kind.FIXED):
            return value in self.values
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind is Kind.INT and (int(value) != value or (value - (self.low or 0)) % self.step):
            return False
        return float(self.low or 0) <= value <= float(self.high or 0)

    def to_dict(self) -> Any:
        """The file form of this hyperparameter."""
        if self.kind is Kind.FIXED:
            return self.values[0]
        if self.kind in (Kind.CHOICE, Kind.GRID):
            return {"type": self.kind.value, "values": list(self.values)}
        d: dict[str, Any] = {"type": self.kind.value, "low": self.low, "high": self.high}
        if self.kind is Kind.INT:
            d.update(log=self.log, step=self.step)
        return d


def _number(name: str, key: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"hyperparameter {name!r}: {key} must be a number, got {value!r}")
    if isinstance(value, str):  # YAML 1.1 reads 1e-5 (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(
                f"hyperparameter {name!r}: {key} must be a number, got {value!r}"
            ) from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"hyperparameter {name!r}: {key} must be a finite number, got {value!r}")
    return float(value)


def parse_param(name: str, spec: Any) -> Param:
    """Build and validate one :class:`Param` from its file form.

    Raises:
        ConfigError: unknown type, missing or inverted bounds, log of a non-positive bound,
            empty choice.
    """
    if not isinstance(spec, Mapping):
        return Param(name, Kind.FIXED, values=(spec,))
    unknown_keys = set(spec) - {"type", "low", "high", "values", "log", "step"}
    if unknown_keys:
        raise ConfigError(
            f"hyperparameter {name!r}: unknown key(s) {sorted(unknown_keys)}; "
            "allowed: type, low, high, values, log, step"
        )
    raw_kind = spec.get("type")
    try:
        kind = Kind(str(raw_kind).lower())
    except ValueError:
        raise ConfigError(
            f"hyperparameter {name!r}: unknown type {raw_kind!r}; expected one of {_KIND_HELP}"
        ) from None
    if kind in (Kind.CHOICE, Kind.GRID):
        values = spec.get("values")
        if not isinstance(values, (list, tuple)) or not values:
            raise ConfigError(
                f"hyperparameter {name!r}: a {kind.value} needs a non-empty list 'values', "
                f"got {values!r}"
            )
        if len(set(map(repr, values))) != len(values):
            raise ConfigError(f"hyperparameter {name!r}: 'values' has duplicates: {values!r}")
        return Param(name, kind, values=tuple(values))
    if kind is Kind.FIXED:
        if "values" not in spec or not isinstance(spec["values"], (list, tuple)):
            raise ConfigError(f"hyperparameter {name!r}: 'fixed' needs 'values: [VALUE]'")
        return Param(name, kind, values=tuple(spec["values"][:1]))
    for key in ("low", "high"):
        if key not in spec:
            raise ConfigError(f"hyperparameter {name!r}: a {kind.value} needs '{key}'")
    low = _number(name, "low", spec["low"])
    high = _number(name, "high", spec["high"])
    if low >= high:
        raise ConfigError(
            f"hyperparameter {name!r}: low ({low:g}) must be smaller than high ({high:g})"
        )
    log = bool(spec.get("log", False)) or kind is Kind.LOGUNIFORM
    if log and low <= 0:
        raise ConfigError(
            f"hyperparameter {name!r}: a log scale needs positive bounds, got low={low:g} "
            "(use uniform, or a positive low such as 1e-6)"
        )
    if kind is Kind.INT:
        if low != int(low) or high != int(high):
            raise ConfigError(f"hyperparameter {name!r}: int bounds must be whole numbers")
        step = int(_number(name, "step", spec.get("step", 1)))
        if step < 1:
            raise ConfigError(f"hyperparameter {name!r}: step must be >= 1, got {step}")
        if log and step != 1:
            raise ConfigError(f"hyperparameter {name!r}: an int on a log scale needs step 1")
        return Param(name, kind, low=low, high=high, log=log, step=step)
    return Param(name, kind, low=low, high=high, log=kind is Kind.LOGUNIFORM)


@dataclass(frozen=True)
class SearchSpace:
    """An ordered set of hyperparameter domains."""

    params: tuple[Param, ...]

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> SearchSpace:
        """Build from the file form (a mapping name → domain or fixed value).

        Raises:
            ConfigError: the mapping is empty or a domain is invalid.
        """
        if not isinstance(spec, Mapping) or not spec:
            raise ConfigError(
                "a search space must be a non-empty mapping of hyperparameter names to domains, "
                f"got {spec!r}"
            )
        return cls(tuple(parse_param(str(k), v) for k, v in spec.items()))

    @classmethod
    def from_file(cls, path: str | Path) -> SearchSpace:
        """Read a YAML (``.yaml``/``.yml``) or JSON file.

        Raises:
            ConfigError: the file is missing, not parseable, or describes an invalid space.
        """
        return cls.from_dict(read_file(path, "search space file"))

    @classmethod
    def coerce(cls, space: SearchSpace | Mapping[str, Any] | str | Path) -> SearchSpace:
        """Accept a SearchSpace, its dict form, or a file path."""
        if isinstance(space, SearchSpace):
            return space
        if isinstance(space, (str, Path)):
            return cls.from_file(space)
        return cls.from_dict(space)

    def __iter__(self) -> Iterator[Param]:
        return iter(self.params)

    @property
    def names(self) -> list[str]:
        """The hyperparameter names, in order."""
        return [p.name for p in self.params]

    def validate_names(self, allowed: Iterable[str], model: str) -> None:
        """Check every hyperparameter is one the model knows.

        Raises:
            ConfigError: naming the unknown hyperparameters and the allowed ones.
        """
        allowed = list(allowed)
        unknown = [n for n in self.names if n not in allowed]
        if unknown:
            raise ConfigError(
                f"unknown hyperparameter(s) {', '.join(map(repr, unknown))} for model {model!r}; "
                f"it takes: {', '.join(allowed)}"
            )

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Ask an Optuna trial for one value of every hyperparameter."""
        return {p.name: p.suggest(trial) for p in self.params}

    def grid(self) -> dict[str, list[Any]]:
        """The full grid for Optuna's GridSampler (searched hyperparameters only)."""
        return {p.name: p.grid_values() for p in self.params if p.kind is not Kind.FIXED}

    def grid_size(self) -> int:
        """Number of points of the grid."""
        return math.prod(len(v) for v in self.grid().values())

    def fixed(self) -> dict[str, Any]:
        """The fixed (not searched) hyperparameters."""
        return {p.name: p.values[0] for p in self.params if p.kind is Kind.FIXED}

    def max_value(self, name: str) -> Any:
        """The largest value ``name`` can take (None when absent)."""
        for p in self.params:
            if p.name == name:
                if p.kind in (Kind.CHOICE, Kind.GRID, Kind.FIXED):
                    return max(p.values)
                return p.high
        return None

    def to_dict(self) -> dict[str, Any]:
        """The file form."""
        return {p.name: p.to_dict() for p in self.params}


def read_file(path: str | Path, what: str) -> Any:
    """The content of a YAML (``.yaml``/``.yml``) or JSON file.

    Raises:
        ConfigError: the file is missing or not parseable.
    """
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {p}: {exc.strerror or exc}") from exc
    try:
        if p.suffix.lower() == ".json":
            return json.loads(text)
        import yaml

        return yaml.safe_load(text)
    except Exception as exc:  # yaml.YAMLError / json.JSONDecodeError
        raise ConfigError(f"{what} {p} is not valid YAML/JSON: {exc}") from exc


# Python helpers mirroring the file form -------------------------------------------------------


def choice(values: Iterable[Any]) -> dict[str, Any]:
    """One of ``values`` (categorical)."""
    return {"type": "choice", "values": list(values)}


def grid(values: Iterable[Any]) -> dict[str, Any]:
    """One of ``values``; every value is tried by ``sampler='grid'``."""
    return {"type": "grid", "values": list(values)}


def uniform(low: float, high: float) -> dict[str, Any]:
    """A float uniformly between ``low`` and ``high``."""
    return {"type": "uniform", "low": low, "high": high}


def loguniform(low: float, high: float) -> dict[str, Any]:
    """A float between ``low`` and ``high`` on a log scale."""
    return {"type": "loguniform", "low": low, "high": high}


def randint(low: int, high: int, log: bool = False, step: int = 1) -> dict[str, Any]:
    """An int between ``low`` and ``high`` inclusive, optionally log-scaled or stepped."""
    return {"type": "int", "low": low, "high": high, "log": log, "step": step}
