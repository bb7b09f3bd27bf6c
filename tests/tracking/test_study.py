"""``sparktf tune --mlflow`` against a real SQLite tracking store: the run tree, params, curves,
statuses, artifacts, and ``--resume`` without duplicates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sparktf
from sparktf.tuning import tune
from tests.tracking import objectives
from tests.tracking.conftest import run_tree

QUALITY_ORDER = ("good", "bad", "broken")
QUALITY = {"quality": sparktf.choice(list(QUALITY_ORDER))}


def _tune(spark: Any, fn: Any, space: Any, out: Path, **kw: Any) -> Any:
    kw.setdefault("show_progress", False)
    kw.setdefault("write_report", False)
    return tune(fn, space, spark=spark, out=out, **kw)


def _artifacts(client: Any, run_id: str, path: str | None = None) -> set[str]:
    return {a.path for a in client.list_artifacts(run_id, path)}


def test_a_study_is_one_parent_run_with_a_nested_child_run_per_trial(
    spark: Any, tmp_path: Path, tracking_uri: str
) -> None:
    out = tmp_path / "run"
    _tune(
        spark,
        objectives.curve_prune_or_fail,
        QUALITY,
        out,
        trials=3,
        sampler="random",
        pruner="asha",
        parallelism=1,
        direction="maximize",
        enqueue=[{"quality": "good"}, {"quality": "bad"}, {"quality": "broken"}],
        mlflow=True,
        mlflow_tracking_uri=tracking_uri,
        write_report=True,
    )
    tree = run_tree(tracking_uri)
    parent, client = tree.parent, tree.client
    assert json.loads((out / "mlflow.json").read_text())["run_id"] == parent.info.run_id
    assert parent.info.status == "FINISHED" and parent.info.run_name == "run"
    # the study: what defines it as params, what --resume may change and versions as tags
    params, tags = parent.data.params, parent.data.tags
    assert params["sampler"] == "random" and params["pruner"] == "asha"
    assert params["metric"] == "value" and params["direction"] == "maximize"
    assert json.loads(params["space.quality"])["values"] == ["good", "bad", "broken"]
    assert tags["sparktf.config.trials"] == "3" and "sparktf.version.optuna" in tags
    assert parent.data.metrics["best_value"] == 0.9 and tags["sparktf.best.quality"] == "good"
    assert tags["sparktf.best_trial"] == "0"
    assert {"report.html", "trials.csv", "config.json", "figures"} <= _artifacts(
        client, parent.info.run_id
    )
    assert any(p.endswith(".png") for p in _artifacts(client, parent.info.run_id, "figures"))
    # the trials: one child each, with its status, params, curve by epoch and metrics
    kids = tree.children
    assert {n: r.info.status for n, r in kids.items()} == {0: "FINISHED", 1: "KILLED", 2: "FAILED"}
    assert {n: r.data.tags["sparktf.state"] for n, r in kids.items()} == {
        0: "COMPLETE",
        1: "PRUNED",
        2: "FAILED",
    }
    assert [kids[n].data.params for n in range(3)] == [{"quality": q} for q in QUALITY_ORDER]
    history = client.get_metric_history(kids[0].info.run_id, "value")
    assert [(m.step, round(m.value, 6)) for m in history] == [
        (1, 0.6),
        (2, 0.7),
        (3, 0.8),
        (4, 0.9),
    ]
    pruned = client.get_metric_history(kids[1].info.run_id, "value")
    assert [(m.step, m.value) for m in pruned] == [(1, 0.1)]
    assert kids[0].data.metrics["duration_s"] > 0
    assert kids[0].data.tags["sparktf.attempts"] == "1"
    assert kids[0].data.tags["sparktf.worker"].rsplit(":", 1)[1].isdigit()
    assert kids[0].info.start_time < kids[0].info.end_time
    error = client.download_artifacts(kids[2].info.run_id, "error.txt", str(tmp_path))
    assert "cannot be trained" in Path(error).read_text()


def test_resume_continues_the_parent_run_and_never_duplicates_a_child(
    spark: Any, tmp_path: Path, tracking_uri: str
) -> None:
    out = tmp_path / "run"
    space = {"x": sparktf.uniform(0, 1), "sleep": 0.0}
    _tune(spark, objectives.sleep_x, space, out, trials=2, seed=0, direction="minimize")
    # switched on at --resume: the trials so far are logged too
    _tune(
        spark, None, None, out, resume=True, trials=3, mlflow=True, mlflow_tracking_uri=tracking_uri
    )
    first = run_tree(tracking_uri)
    assert sorted(first.children) == [0, 1, 2]
    _tune(spark, None, None, out, resume=True, trials=4)
    second = run_tree(tracking_uri)  # (it refuses duplicate children)
    assert second.parent.info.run_id == first.parent.info.run_id
    assert second.parent.info.status == "FINISHED"
    assert sorted(second.children) == [0, 1, 2, 3]
    assert all(second.children[n].info.run_id == r.info.run_id for n, r in first.children.items())
    assert second.parent.data.tags["sparktf.config.trials"] == "4"
