"""Objectives are recognised the way users write them; Keras builders never by argument count."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import sparktf
from sparktf.errors import ConfigError
from sparktf.execution.runner import ObjectiveKind
from sparktf.tuning import tune
from sparktf.tuning.objectives import callable_kind


def one_arg(params):  # type: ignore[no-untyped-def]
    return params["x"]


def with_data(params, data):  # type: ignore[no-untyped-def]
    return params["x"]


def optional_data(params, data=None):  # type: ignore[no-untyped-def]
    return params["x"]


def returns_dict(params: dict[str, Any]) -> dict[str, float]:
    return {"value": params["x"]}


@sparktf.keras_builder
def marked(params):  # type: ignore[no-untyped-def]
    raise AssertionError("not called on the driver")


def annotated(params: dict[str, Any]) -> keras.Model:  # type: ignore[name-defined]  # noqa: F821
    raise AssertionError("not called on the driver")


def ambiguous(params: dict[str, Any]) -> keras.Model | float:  # type: ignore[name-defined]  # noqa: F821
    return 0.0


def no_args() -> float:
    return 0.0


def three_args(a, b, c):  # type: ignore[no-untyped-def]
    return 0.0


@sparktf.keras_builder
def marked_with_data(params, data):  # type: ignore[no-untyped-def]
    return None


@pytest.mark.parametrize(
    ("fn", "kind", "takes_data"),
    [
        (one_arg, ObjectiveKind.FUNCTION, False),
        (with_data, ObjectiveKind.FUNCTION, True),
        (optional_data, ObjectiveKind.FUNCTION, True),
        (returns_dict, ObjectiveKind.FUNCTION, False),
        (lambda p: p["x"], ObjectiveKind.FUNCTION, False),
        (marked, ObjectiveKind.BUILD, False),
        (annotated, ObjectiveKind.BUILD, False),
    ],
)
def test_the_forms_users_write(fn: Any, kind: ObjectiveKind, takes_data: bool) -> None:
    assert callable_kind(fn) == (kind, takes_data)


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (ambiguous, "a Keras model or a value"),
        (no_args, "takes no arguments"),
        (three_args, "takes 3 arguments"),
        (marked_with_data, "must take exactly one argument"),
    ],
)
def test_ambiguous_or_impossible_forms_fail_before_anything_runs(
    fn: Any, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=message):
        tune(fn, {"x": sparktf.uniform(0, 1)}, out=tmp_path / "run", show_progress=False)
    assert not (tmp_path / "run").exists()


def test_unknown_tune_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown tune\\(\\) setting\\(s\\) trails"):
        tune(one_arg, {"x": sparktf.uniform(0, 1)}, trails=3, out=tmp_path / "run")
