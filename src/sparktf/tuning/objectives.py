"""What a study optimises: a model family by name, a Keras builder, or any objective.

Objectives are written the way Optuna and hyperopt users write them: ``f(params)``,
``f(params, data)`` or ``f(params, data=None)``, returning a number or a dict of metrics. A Keras
model builder ``build(params) -> compiled keras.Model`` (which sparktf trains, reports and
evaluates) is recognised by its return annotation (``-> keras.Model``) or by the
:func:`keras_builder` marker, never by its number of arguments.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from sparktf.errors import ConfigError
from sparktf.execution.runner import Objective, ObjectiveKind

F = TypeVar("F", bound=Callable[..., Any])

_MARKER = "__sparktf_keras_builder__"
_MODEL_WORDS = re.compile(r"\b(Model|Sequential|Functional)\b")
_VALUE_WORDS = re.compile(r"\b(float|int|dict|Mapping|Number)\b")
_SHAPES = (
    "objective(params) or objective(params, data) -> float | dict, or a Keras builder "
    "build(params) -> keras.Model marked with @sparktf.keras_builder"
)


def keras_builder(fn: F) -> F:
    """Mark ``fn(params) -> compiled keras.Model`` as a Keras model builder: sparktf builds,
    trains (reporting each epoch), evaluates and saves the model of every trial.

    Example::

        @sparktf.keras_builder
        def build(params):
            model = keras.Sequential([...])
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            return model
    """
    setattr(fn, _MARKER, True)
    return fn


def _annotation_text(fn: Callable[..., Any]) -> str:
    try:
        ann = inspect.signature(fn).return_annotation
    except (TypeError, ValueError):
        return ""
    if ann is inspect.Signature.empty:
        return ""
    return ann if isinstance(ann, str) else repr(ann) + " " + getattr(ann, "__qualname__", "")


def _positional(fn: Callable[..., Any]) -> tuple[int, int, bool]:
    """(required positional parameters, all positional parameters, takes *args)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return 2, 2, False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is inspect.Parameter.empty]
    star = any(p.kind is p.VAR_POSITIONAL for p in params)
    return len(required), len(positional), star


def callable_kind(fn: Callable[..., Any]) -> tuple[ObjectiveKind, bool]:
    """How ``fn`` is run: ``(BUILD, False)`` for a marked or ``-> keras.Model`` builder, else
    ``(FUNCTION, takes_data)``.

    Raises:
        ConfigError: the signature fits no form, or the annotation says both.
    """
    name = getattr(fn, "__name__", repr(fn))
    required, positional, star = _positional(fn)
    text = _annotation_text(fn)
    says_model, says_value = bool(_MODEL_WORDS.search(text)), bool(_VALUE_WORDS.search(text))
    if says_model and says_value:
        raise ConfigError(
            f"objective {name!r} is annotated to return {text.split()[0]!r}: a Keras model or a "
            f"value? Annotate one of them. Expected {_SHAPES}"
        )
    if getattr(fn, _MARKER, False) or says_model:
        if required != 1:
            raise ConfigError(
                f"Keras builder {name!r} must take exactly one argument (params), "
                f"it requires {required}"
            )
        return ObjectiveKind.BUILD, False
    if required > 2 or (positional == 0 and not star):
        raise ConfigError(
            f"objective {name!r} takes {required if required > 2 else 'no'} arguments: "
            f"expected {_SHAPES}"
        )
    return ObjectiveKind.FUNCTION, positional >= 2 or star


def _import_callable(spec: str) -> Callable[..., Any]:
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ConfigError(f"objective {spec!r}: expected a model name or 'module:function'")
    try:
        obj = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot import objective {spec!r}: {exc}") from exc
    if not callable(obj):
        raise ConfigError(f"objective {spec!r} is not callable")
    return obj  # type: ignore[no-any-return,unused-ignore]


def resolve_objective(objective: str | Callable[..., Any]) -> tuple[Objective, str]:
    """Turn a model name, ``module:function`` or callable into an :class:`Objective`.

    Returns:
        The objective and its name for ``config.json``.

    Raises:
        ConfigError: unknown model, unimportable function, or a signature that fits no form.
    """
    from sparktf.keras.models import FAMILIES

    if isinstance(objective, str):
        if objective in FAMILIES:
            fam = FAMILIES[objective]
            return (
                Objective(ObjectiveKind.FAMILY, fam.name, None, fam.input_shape, fam.scale),
                objective,
            )
        if ":" not in objective:
            raise ConfigError(
                f"unknown model {objective!r}: expected one of {', '.join(FAMILIES)} or "
                "'module:function' naming your own objective"
            )
        fn = _import_callable(objective)
        name = objective
    elif callable(objective):
        fn = objective
        name = f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"
    else:
        raise ConfigError(f"objective must be a model name or a callable, got {objective!r}")
    kind, takes_data = callable_kind(fn)
    _ship_by_value(fn)
    return Objective(kind, name, fn, takes_data=takes_data), name


def _ship_by_value(fn: Callable[..., Any]) -> None:
    """Pickle the objective's module by value when executors may be unable to import it."""
    module = sys.modules.get(getattr(fn, "__module__", "") or "")
    if module is None or module.__name__ in ("__main__", "builtins"):
        return
    path = str(getattr(module, "__file__", "") or "")
    if module.__name__.startswith("sparktf.") or "site-packages" in path:
        return
    from pyspark import cloudpickle

    with contextlib.suppress(ValueError, TypeError):
        cloudpickle.register_pickle_by_value(module)
