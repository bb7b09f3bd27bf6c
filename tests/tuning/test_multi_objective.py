"""Several objectives on real local Spark: MO-ASHA, constraints, the front, Occam, resume,
warm starts."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import sparktf
from sparktf.errors import ConfigError
from sparktf.tuning import tune
from tests import mo_objectives

SIZE = {"size": sparktf.choice(["large", "small", "worse"])}
OBJ = {"val_accuracy": "max", "params": "min"}


def _run(spark, fn, space, tmp_path: Path, name: str = "run", **kw):
    kw.setdefault("trials", 3)
    kw.setdefault("seed", 0)
    kw.setdefault("show_progress", False)
    kw.setdefault("write_report", False)
    kw.setdefault("parallelism", 1)
    kw.setdefault("sampler", "random")
    return tune(fn, space, spark=spark, out=tmp_path / name, **kw)


def _by_size(res):
    return res.trials.set_index("params_size")


def _sized(spark, tmp_path: Path, order: str, **kw):
    """A study of ``sized_model`` running the sizes in ``order`` (space separated)."""
    kw.setdefault("objectives", OBJ)
    kw.setdefault("pruner", "none")
    enqueue = [{"size": size} for size in order.split()]
    return _run(spark, mo_objectives.sized_model, SIZE, tmp_path, enqueue=enqueue, **kw)


def test_moasha_keeps_a_smaller_slightly_worse_model_and_stops_one_worse_everywhere(
    spark, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    res = _sized(spark, tmp_path, "large small worse", pruner="asha", show_progress=True)
    df = _by_size(res)
    assert df.loc["large", "state"] == "COMPLETE" and df.loc["small", "state"] == "COMPLETE"
    assert df.loc["worse", "state"] == "PRUNED" and df.loc["worse", "pruned_at_epoch"] == 1
    assert df.loc["small", "value_params"] == 1e4 and df.loc["large", "value_val_accuracy"] == 0.9
    assert df["pareto"].tolist() == [True, True, False]
    # --select occam:0.005 (the default): the small model is within 0.005 of the best accuracy
    assert res.best_trial == df.loc["small", "number"] and res.best_params == {"size": "small"}
    best = json.loads((tmp_path / "run" / "best" / "params.json").read_text())
    assert best["trial"] == res.best_trial
    assert sorted(p.name for p in (tmp_path / "run" / "trials").iterdir()) == ["0", "1"]
    out = capsys.readouterr()
    assert "Pareto front (2 of 3 trials)" in out.err and "mo-asha" in out.err
    assert "best (--select occam:0.005): trial 1" in out.out


def test_tpe_samples_on_after_mo_asha_pruned_trials(spark, tmp_path: Path) -> None:
    order = "worse large worse small worse worse"  # pruned trials before TPE's first model
    res = _sized(spark, tmp_path, order, pruner="asha", sampler="tpe", trials=9)
    df = res.trials
    assert len(df) == 9 and set(df["state"]) == {"COMPLETE", "PRUNED"}
    pruned = df[df["state"] == "PRUNED"]
    # the first "worse" trial is alone at its rung; later ones are behind "large" everywhere
    assert df["state"].tolist()[:6] == ["COMPLETE"] * 2 + ["PRUNED", "COMPLETE"] + ["PRUNED"] * 2
    assert (pruned["params_size"] == "worse").all()
    assert pruned["value"].round(6).eq(0.7).all()  # the curve's value where the trial stopped


def test_select_first_takes_the_best_first_objective(spark, tmp_path: Path) -> None:
    res = _sized(spark, tmp_path, "small large worse", select="first")
    assert res.best_params == {"size": "large"} and len(res.front) == 2
    assert (_by_size(res).loc["worse", "state"]) == "COMPLETE"


def test_an_infeasible_trial_is_kept_marked_and_never_chosen(spark, tmp_path: Path) -> None:
    res = _sized(
        spark, tmp_path, "large small worse", constraints=["latency_ms < 5"], select="first"
    )
    df = _by_size(res)
    assert df["feasible"].tolist() == [False, True, False]  # large: 10 ms, worse: 20 ms
    assert df["pareto"].tolist() == [False, True, False]
    assert res.best_params == {"size": "small"}  # the most accurate is infeasible


def test_one_objective_with_a_constraint_never_saves_an_infeasible_best(
    spark, tmp_path: Path
) -> None:
    res = _sized(
        spark,
        tmp_path,
        "large worse small",
        objectives=None,
        metric="val_accuracy",
        constraints=["params <= 5e5"],
    )
    assert res.best_params == {"size": "small"}
    assert _by_size(res)["feasible"].tolist() == [False, False, True]
    assert "pareto" not in res.trials.columns
    best = json.loads((tmp_path / "run" / "best" / "params.json").read_text())
    assert best["size"] == "small"


def test_resume_continues_a_multi_objective_study(spark, tmp_path: Path) -> None:
    space = {"x": sparktf.uniform(0, 1)}
    kw = {"objectives": {"b": "min", "a": "max"}, "sampler": "nsga2"}  # not sorted by name
    _run(spark, mo_objectives.two_values, space, tmp_path, trials=2, **kw)
    res = tune(
        mo_objectives.two_values,
        resume=True,
        out=tmp_path / "run",
        trials=4,
        spark=spark,
        show_progress=False,
        write_report=False,
        objectives=["b:min", "a:max"],
    )
    assert res.counts == {"COMPLETE": 4}
    assert list(res.trials.columns[3:5]) == ["value_b", "value_a"] and "pareto" in res.trials
    for _, row in res.trials.iterrows():  # each value under its own name after the resume
        assert row["value_a"] == row["params_x"] and row["value_b"] == (1 - row["params_x"]) ** 2
    assert res.front["pareto"].all() and len(res.front) >= 1
    with pytest.raises(ConfigError, match="cannot change on --resume"):
        tune(resume=True, out=tmp_path / "run", objectives={"a": "max"}, spark=spark)


def test_warm_start_gives_compatible_trials_and_names_the_others(
    spark, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    space = {"x": sparktf.uniform(0, 1)}
    kw = {"objectives": {"a": "max", "b": "min"}}
    enqueue = [{"x": 0.2}, {"x": 0.4}, {"x": 0.7}, {"x": 0.9}]
    _run(
        spark,
        mo_objectives.two_values,
        space,
        tmp_path,
        name="old",
        trials=4,
        enqueue=enqueue,
        **kw,
    )
    res = _run(
        spark,
        mo_objectives.two_values,
        {"x": sparktf.uniform(0, 0.5)},
        tmp_path,
        name="new",
        trials=2,
        sampler="tpe",
        warm_start=str(tmp_path / "old"),
        show_progress=True,
        **kw,
    )
    assert res.counts == {"COMPLETE": 2, "WARM_START": 2}
    err = capsys.readouterr().err
    assert f"warm start: 2 completed trial(s) of {tmp_path / 'old'} given to the sampler" in err
    assert "2 skipped as incompatible: trial 2: x=0.7 is outside the new space; trial 3" in err
    before = pd.read_csv(tmp_path / "new" / "trials.csv")
    assert sorted(before.loc[before["state"] == "WARM_START", "params_x"]) == [0.2, 0.4]
    # warm-start trials are never on this study's front (their models are elsewhere)
    warm = res.trials[res.trials["state"] == "WARM_START"]
    assert not warm["pareto"].any()


def test_several_objectives_refuse_what_cannot_handle_them(tmp_path: Path) -> None:
    base = {"space": {"x": sparktf.uniform(0, 1)}, "out": str(tmp_path / "r")}
    with pytest.raises(ConfigError, match="--sampler cmaes optimises one objective"):
        tune(mo_objectives.two_values, objectives={"a": "max", "b": "min"}, sampler="cmaes", **base)
    with pytest.raises(ConfigError, match="--pruner hyperband judges one objective"):
        tune(mo_objectives.two_values, objectives=["a:max", "b:min"], pruner="hyperband", **base)
    with pytest.raises(ConfigError, match="a Keras trial does not report flops"):
        tune("mnist_cnn", space={"neurons": 8}, objectives={"flops": "min"}, out=base["out"])
    with pytest.raises(ConfigError, match="--direction minimize contradicts"):
        tune(mo_objectives.two_values, objectives={"a": "max"}, direction="minimize", **base)
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_keras_front_models_are_kept_and_predict_uses_any_of_them(
    spark, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from sparktf.cli import main
    from sparktf.datasets import load
    from tests.conftest import make_idx_dataset
    from tests.inference.conftest import encode, photo

    data = load("mnist", data_dir=make_idx_dataset(tmp_path / "d", 120, 20), download=False)
    res = _run(
        spark,
        "mnist_cnn",
        {"neurons": sparktf.choice([4, 32]), "epochs": 2, "batch_size": 32},
        tmp_path,
        data=data,
        trials=2,
        objectives=OBJ,
        pruner="none",
        enqueue=[{"neurons": 4}, {"neurons": 32}],
    )
    df = res.trials.set_index("params_neurons")
    assert df.loc[4, "value_params"] < df.loc[32, "value_params"]
    assert df.loc[4, "params"] == df.loc[4, "value_params"] > 0  # measured on the executor
    assert df.loc[4, "pareto"]  # the smallest model is always on the front
    from tests.clusterutil import study_trials

    for t in study_trials(tmp_path / "run"):  # said before training, for MO-ASHA's rungs
        assert t.user_attrs["known"]["params"] == t.values[1]
    run = tmp_path / "run"
    kept = sorted(int(p.name) for p in (run / "trials").iterdir())
    assert kept == sorted(res.front["number"]) and (run / "best" / "model.keras").is_file()
    images = tmp_path / "img"
    images.mkdir()
    for i in range(3):
        (images / f"{i}.png").write_bytes(encode(photo(28, 28, seed=i)[:, :, 0], "PNG"))
    small = int(df.loc[4, "number"])
    out = tmp_path / "p.json"
    argv = ["predict", "--model", str(run), "--input", str(images), "--no-progress"]
    assert main([*argv, "--trial", str(small), "--out", str(out)]) == 0
    assert len(pd.read_json(out, lines=True)) == 3
    assert main([*argv, "--trial", "99", "--out", str(tmp_path / "q.json")]) == 2
    assert f"keeps the models of its Pareto front: {', '.join(map(str, kept))}" in (
        capsys.readouterr().err
    )
