"""Several objectives in MLflow and in the report: the front as a table artifact and as
``pareto.png``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sparktf
from sparktf.tuning import tune
from tests import mo_objectives
from tests.tracking.conftest import run_tree

X = {"x": sparktf.uniform(0, 1)}


def test_the_front_is_an_mlflow_table_and_a_report_figure(
    spark: Any, tmp_path: Path, tracking_uri: str
) -> None:
    out = tmp_path / "run"
    res = tune(
        mo_objectives.two_values,
        X,
        spark=spark,
        out=out,
        trials=4,
        seed=1,
        objectives={"a": "max", "b": "min"},
        mlflow=True,
        mlflow_tracking_uri=tracking_uri,
        show_progress=False,
    )
    tree = run_tree(tracking_uri)
    parent, client = tree.parent, tree.client
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert "pareto_front.json" in names
    assert "figures/pareto.png" in {
        a.path for a in client.list_artifacts(parent.info.run_id, "figures")
    }
    local = client.download_artifacts(parent.info.run_id, "pareto_front.json", str(tmp_path))
    table = json.loads(Path(local).read_text())
    assert {"number", "value_a", "value_b", "pareto"} <= set(table["columns"])
    assert sorted(row[table["columns"].index("number")] for row in table["data"]) == sorted(
        res.front["number"]
    )
    assert parent.data.tags["sparktf.best_trial"] == str(res.best_trial)
    page = (out / "report.html").read_text()
    assert "Pareto front" in page and "a (maximize), b (minimize); best/ chosen by" in page
    assert f"trial #{res.best_trial}:" in page  # the report's best is the chosen front member


def test_three_objectives_draw_a_matrix_of_pairs(spark: Any, tmp_path: Path) -> None:
    from matplotlib.image import imread

    out = tmp_path / "run"
    tune(
        mo_objectives.three_values,
        X,
        spark=spark,
        out=out,
        trials=4,
        seed=2,
        objectives={"a": "max", "b": "min", "c": "min"},
        show_progress=False,
    )
    two = imread(out / "pareto.png")
    assert two.shape[0] >= 800 and two.shape[1] >= 800  # a 3x3 matrix, not one panel
