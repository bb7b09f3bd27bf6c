"""``sparktf tune`` with several objectives on the command line: refusals before Spark, and
one run with --objective NAME:max|min, --constraint and --enqueue FILE."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from sparktf.cli import main

FN = "tests.mo_objectives:two_values"
TWO = ["--objective", FN, "--objective", "a:max", "--objective", "b:min"]
UNREACHABLE = "spark://127.0.0.1:9"  # reaching Spark would fail slowly, not exit 2


@pytest.fixture
def space_file(tmp_path: Path) -> Path:
    f = tmp_path / "space.yaml"
    f.write_text("x: {type: uniform, low: 0, high: 1}\n")
    return f


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--sampler", "cmaes"], "--sampler cmaes optimises one objective .* tpe, nsga2"),
        (["--pruner", "median"], "--pruner median judges one objective .* asha"),
        (["--constraint", "a =< 3"], "expected NAME OP NUMBER"),
        (["--select", "smallest"], "--select 'smallest': expected occam:TOL"),
        (["--objective", "other:f"], "--objective MODULE:FUNCTION is given 2 times"),
        (["--enqueue", "ENQ"], "--enqueue .*: expected a list of parameter sets"),
        (["--warm-start", "nowhere"], "is not a sparktf run directory"),
    ],
)
def test_bad_objectives_exit_2_before_spark(
    extra: list[str], message: str, space_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    enq = tmp_path / "enq.json"
    enq.write_text('{"x": 0.5}')
    extra = [str(enq) if a == "ENQ" else str(tmp_path / a) if a == "nowhere" else a for a in extra]
    out = tmp_path / "run"
    argv = ["tune", *TWO, "--space", str(space_file), "--master", UNREACHABLE, "--out", str(out)]
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err.replace("\n", " ")), err
    assert "Traceback" not in err and not out.exists()


def test_cli_runs_several_objectives_with_a_constraint_and_enqueued_points(
    spark, space_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    enq = tmp_path / "first.yaml"
    enq.write_text("- {x: 0.9}\n- {x: 0.1}\n")
    out = tmp_path / "run"
    argv = [*TWO, "--constraint", "a >= 0.5", "--space", str(space_file), "--trials", "3"]
    flags = ["--enqueue", str(enq), "--seed", "0", "--master", "local[2]", "--out", str(out)]
    assert main(["tune", *argv, *flags, "--no-report"]) == 0
    df = pd.read_csv(out / "trials.csv")
    assert df["params_x"].tolist()[:2] == [0.9, 0.1]  # the enqueued points first
    assert {"value_a", "value_b", "pareto", "feasible"} <= set(df.columns)
    assert not df.loc[df["params_x"] == 0.1, "feasible"].item()
    assert not df.loc[~df["feasible"], "pareto"].any()
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["objectives"] == ["a:maximize", "b:minimize"]  # in the order given
    assert cfg["constraints"] == ["a >= 0.5"] and cfg["select"] == "occam:0.005"
    printed = capsys.readouterr()
    assert "Pareto front" in printed.err and "best (--select occam:0.005)" in printed.out
