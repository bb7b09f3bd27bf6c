"""Search spaces: every form, every invalid case's message."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

import sparktf
from sparktf.errors import ConfigError
from sparktf.search.space import Kind, SearchSpace
from sparktf.search.study import make_pruner, make_sampler, resolve_pruner


def test_yaml_file_all_kinds(tmp_path: Path) -> None:
    f = tmp_path / "space.yaml"
    f.write_text(
        "neurons: {type: choice, values: [64, 256]}\n"
        "learning_rate: {type: loguniform, low: 1e-5, high: 1e-2}\n"
        "batch_size: {type: int, low: 32, high: 256, log: true}\n"
        "dropout: {type: uniform, low: 0.2, high: 0.6}\n"
        "optimizer: {type: grid, values: [adam, sgd]}\n"
        "epochs: 3\n"
    )
    sp = SearchSpace.from_file(f)
    kinds = {p.name: p.kind for p in sp}
    assert kinds == {
        "neurons": Kind.CHOICE,
        "learning_rate": Kind.LOGUNIFORM,
        "batch_size": Kind.INT,
        "dropout": Kind.UNIFORM,
        "optimizer": Kind.GRID,
        "epochs": Kind.FIXED,
    }
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        params = sp.suggest(study.ask())
        assert params["neurons"] in (64, 256) and 1e-5 <= params["learning_rate"] <= 1e-2
        assert 32 <= params["batch_size"] <= 256 and isinstance(params["batch_size"], int)
        assert 0.2 <= params["dropout"] <= 0.6 and params["optimizer"] in ("adam", "sgd")
    assert sp.fixed() == {"epochs": 3}
    assert sp.max_value("epochs") == 3


def test_json_file_and_python_helpers_agree(tmp_path: Path) -> None:
    py = {
        "x": sparktf.uniform(0, 1),
        "k": sparktf.randint(1, 9, step=2),
        "c": sparktf.choice(["a", "b"]),
        "g": sparktf.grid([1, 2, 3]),
        "lr": sparktf.loguniform(1e-4, 1e-1),
    }
    f = tmp_path / "space.json"
    f.write_text(json.dumps(py))
    assert SearchSpace.from_file(f) == SearchSpace.from_dict(py)
    assert SearchSpace.from_dict(py).to_dict()["k"]["step"] == 2


def test_grid_of_discrete_space() -> None:
    sp = SearchSpace.from_dict({"a": sparktf.grid([1, 2]), "b": sparktf.randint(0, 2), "c": 5})
    assert sp.grid() == {"a": [1, 2], "b": [0, 1, 2]}
    assert sp.grid_size() == 6


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"x": {"type": "uniform", "low": 2, "high": 1}}, r"low \(2\) must be smaller than high"),
        ({"x": {"type": "uniform", "low": 1, "high": 1}}, "must be smaller than high"),
        ({"x": {"type": "loguniform", "low": 0, "high": 1}}, "log scale needs positive bounds"),
        ({"x": {"type": "int", "low": -3, "high": 5, "log": True}}, "log scale needs positive"),
        ({"x": {"type": "choice", "values": []}}, "needs a non-empty list 'values'"),
        ({"x": {"type": "choice"}}, "needs a non-empty list 'values'"),
        ({"x": {"type": "normal", "low": 0, "high": 1}}, "unknown type 'normal'"),
        ({"x": {"type": "uniform", "high": 1}}, "needs 'low'"),
        ({"x": {"type": "uniform", "low": "abc", "high": 1}}, "low must be a number"),
        ({"x": {"type": "int", "low": 1.5, "high": 4}}, "int bounds must be whole numbers"),
        ({"x": {"type": "int", "low": 1, "high": 4, "step": 0}}, "step must be >= 1"),
        ({"x": {"type": "uniform", "low": 0, "high": 1, "lo": 3}}, r"unknown key\(s\) \['lo'\]"),
        ({"x": {"type": "choice", "values": [1, 1]}}, "duplicates"),
        ({}, "non-empty mapping"),
    ],
)
def test_invalid_spaces(spec: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SearchSpace.from_dict(spec)


def test_unknown_hyperparameter_for_model() -> None:
    sp = SearchSpace.from_dict({"neurons": 8, "layers": 3})
    with pytest.raises(
        ConfigError,
        match=r"unknown hyperparameter\(s\) 'layers' for model "
        "'mnist_cnn'; it takes: neurons, learning_rate",
    ):
        sp.validate_names(["neurons", "learning_rate"], "mnist_cnn")


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read search space file"):
        SearchSpace.from_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("x: {type: uniform, low: [\n")
    with pytest.raises(ConfigError, match="not valid YAML/JSON"):
        SearchSpace.from_file(bad)
    scalar = tmp_path / "scalar.json"
    scalar.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="non-empty mapping"):
        SearchSpace.from_file(scalar)


def test_grid_sampler_rejects_continuous_domain() -> None:
    sp = SearchSpace.from_dict({"lr": sparktf.loguniform(1e-4, 1e-1)})
    with pytest.raises(ConfigError, match="has no grid"):
        make_sampler("grid", sp, seed=0)
    with pytest.raises(ConfigError, match="unknown sampler 'bayes'"):
        make_sampler("bayes", sp, seed=0)


def test_pruner_resolution_and_validation() -> None:
    assert resolve_pruner("auto", 5) == "asha"
    assert resolve_pruner("auto", 1) == "none"
    assert resolve_pruner("median", 1) == "median"
    with pytest.raises(ConfigError, match="unknown pruner"):
        resolve_pruner("early", 3)
    assert isinstance(make_pruner("asha", 1, 3), optuna.pruners.SuccessiveHalvingPruner)
    assert isinstance(make_pruner("hyperband", 1, 3, 9), optuna.pruners.HyperbandPruner)
    with pytest.raises(ConfigError, match="--reduction-factor must be >= 2"):
        make_pruner("asha", 1, 1)
    with pytest.raises(ConfigError, match="--min-epochs must be >= 1"):
        make_pruner("asha", 0, 3)
