"""Warm starts: which earlier trials fit a new space, and ``--enqueue`` files."""

from __future__ import annotations

from pathlib import Path

import pytest

import sparktf
from sparktf.errors import ConfigError
from sparktf.search.space import SearchSpace
from sparktf.search.warmstart import incompatibility, read_enqueue

SPACE = SearchSpace.coerce(
    {
        "neurons": sparktf.choice([16, 64]),
        "learning_rate": sparktf.loguniform(1e-4, 1e-2),
        "layers": sparktf.randint(1, 3),
        "epochs": 3,
    }
)
OK = {"neurons": 16, "learning_rate": 1e-3, "layers": 2, "epochs": 3}
METRICS = {"val_accuracy": 0.9, "params": 1e4}


@pytest.mark.parametrize(
    ("change", "names", "why"),
    [
        ({}, ["val_accuracy", "params"], None),
        ({"neurons": 32}, ["val_accuracy"], "neurons=32 is outside the new space"),
        ({"learning_rate": 0.5}, ["val_accuracy"], "learning_rate=0.5 is outside"),
        ({"layers": 1.5}, ["val_accuracy"], "layers=1.5 is outside"),
        ({"epochs": 9}, ["val_accuracy"], "epochs=9 is outside"),  # fixed values must match
        ({}, ["val_accuracy", "latency_ms"], "its results lack latency_ms"),
    ],
)
def test_incompatible_trials_are_named_with_the_reason(
    change: dict, names: list[str], why: str | None
) -> None:
    got = incompatibility({**OK, **change}, METRICS, SPACE, names)
    assert got is None if why is None else why in str(got)
    assert incompatibility({"neurons": 16}, METRICS, SPACE, names[:1]) == "it has no learning_rate"


def test_enqueue_files_are_lists_of_parameter_sets(tmp_path: Path) -> None:
    f = tmp_path / "first.yaml"
    f.write_text("- {neurons: 1024, learning_rate: 0.001}\n- {neurons: 64}\n")
    assert read_enqueue(str(f)) == [{"neurons": 1024, "learning_rate": 0.001}, {"neurons": 64}]
    g = tmp_path / "bad.json"
    g.write_text('{"neurons": 64}')
    with pytest.raises(ConfigError, match="expected a list of parameter sets"):
        read_enqueue(str(g))
    with pytest.raises(ConfigError, match="cannot read --enqueue file"):
        read_enqueue(str(tmp_path / "missing.yaml"))
