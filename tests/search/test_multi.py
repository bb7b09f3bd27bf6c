"""Several objectives: parsing, Pareto ranking, MO-ASHA's rung rule and the Occam choice."""

from __future__ import annotations

import math

import pytest

from sparktf.errors import ConfigError
from sparktf.search.moasha import MOASHA, keeps
from sparktf.search.multi import (
    Constraint,
    Selection,
    crowding_distances,
    dominates,
    is_objective_spec,
    nondominated_fronts,
    normalize_objectives,
    pareto_front,
    select,
)

ACC_PARAMS = ("maximize", "minimize")


def test_objective_specs_are_told_from_module_functions() -> None:
    assert is_objective_spec("val_accuracy:max") and is_objective_spec("params:minimize")
    assert not is_objective_spec("mypkg.objectives:train")
    assert normalize_objectives(["val_accuracy:max", "params:min"]) == {
        "val_accuracy": "maximize",
        "params": "minimize",
    }
    assert normalize_objectives({"loss": "min"}) == {"loss": "minimize"}
    with pytest.raises(ConfigError, match="max or min"):
        normalize_objectives({"loss": "down"})
    with pytest.raises(ConfigError, match="twice"):
        normalize_objectives(["a:max", "a:min"])


def test_constraints_parse_and_say_how_far_off() -> None:
    c = Constraint.parse("params <= 2e6")
    assert (c.name, c.op, c.bound) == ("params", "<=", 2e6) and str(c) == "params <= 2e+06"
    assert c.holds({"params": 1e6}) and c.violation({"params": 1e6}) <= 0
    assert not c.holds({"params": 3e6}) and c.violation({"params": 3e6}) == pytest.approx(1e6)
    assert not c.holds({}) and c.violation({}) > 0  # unknown measure: infeasible
    strict = Constraint.parse("latency_ms < 5")
    assert not strict.holds({"latency_ms": 5.0}) and strict.violation({"latency_ms": 5.0}) > 0
    for bad in ("params", "params =< 3", "params <= lots"):
        with pytest.raises(ConfigError, match="NAME OP NUMBER"):
            Constraint.parse(bad)


def test_nondominated_sorting_and_crowding() -> None:
    pts = [(0.90, 1e6), (0.88, 1e4), (0.80, 2e6), (0.89, 5e5)]
    assert dominates(pts[0], pts[2], ACC_PARAMS) and not dominates(pts[0], pts[1], ACC_PARAMS)
    assert nondominated_fronts(pts, ACC_PARAMS) == [[0, 1, 3], [2]]
    assert pareto_front(pts, ACC_PARAMS) == [0, 1, 3]
    d = crowding_distances([(0.90, 1e6), (0.88, 1e4), (0.89, 5e5)])
    assert math.isinf(d[0]) and math.isinf(d[1]) and 0 < d[2] < math.inf


def test_a_rung_keeps_a_smaller_slightly_worse_model_and_stops_one_worse_everywhere() -> None:
    large, small, worse = (0.90, 1e6), (0.88, 1e4), (0.80, 2e6)
    assert keeps([small, large], ACC_PARAMS, eta=3)
    assert keeps([small, large, worse], ACC_PARAMS, eta=3)
    assert not keeps([worse, large, small], ACC_PARAMS, eta=3)
    # one objective: the classic ASHA rule (best 1/eta)
    assert not keeps([(0.5,), (0.9,), (0.8,)], ("maximize",), eta=3)
    assert keeps([(0.95,), (0.9,), (0.8,)], ("maximize",), eta=3)


def test_moasha_rungs_are_geometric() -> None:
    p = MOASHA("maximize", {"params": "minimize"}, min_epochs=1, reduction_factor=3)
    assert [s for s in range(1, 30) if p.is_rung(s)] == [1, 3, 9, 27]
    p2 = MOASHA("maximize", {}, min_epochs=2, reduction_factor=2)
    assert [s for s in range(1, 20) if p2.is_rung(s)] == [2, 4, 8, 16]


def test_occam_chooses_the_fewest_parameters_within_the_tolerance() -> None:
    front = [(0, 0.900, 1e6), (1, 0.897, 1e4), (2, 0.850, 1e2)]
    assert select(front, "maximize", Selection.parse("occam:0.005")) == 1
    assert select(front, "maximize", Selection.parse("occam")) == 1
    assert select(front, "maximize", Selection.parse("occam:0.001")) == 0
    assert select(front, "maximize", Selection.parse("first")) == 0
    assert select(front, "maximize", Selection.parse("occam:0.1")) == 2
    assert select([], "maximize", Selection.parse("first")) is None
    assert str(Selection.parse("occam:0.01")) == "occam:0.01"
    for bad in ("occam:-1", "best", "first:2"):
        with pytest.raises(ConfigError, match="--select"):
            Selection.parse(bad)
