"""``sparktf tune --data``: every usage error exits 2 before Spark starts; a class-folder study
from the command line, then ``sparktf predict`` on it answers the folder names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from sparktf.cli import main
from tests.datasets.owndata import class_folders, feature_frame


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    photos = class_folders(tmp_path / "photos", per_class=4)
    one = class_folders(tmp_path / "one", per_class=4, classes=("red",))
    empty = class_folders(tmp_path / "empty", per_class=4)
    (empty / "yellow").mkdir()
    feature_frame(30).to_csv(tmp_path / "t.csv", index=False)
    space = tmp_path / "space.yaml"
    space.write_text("epochs: 1\n")
    rows = [f"{i},{i % 3},{i * 0.5},{'yes' if i % 2 else 'no'}" for i in range(12)]
    (tmp_path / "nolabel.csv").write_text("n,f0,f1,y\n" + "\n".join([*rows, "12,1,2.5,"]))
    rows[6] = "6,0,abc,no"
    (tmp_path / "typo.csv").write_text("n,f0,f1,y\n" + "\n".join(rows))
    return {
        "P": photos,
        "ONE": one,
        "EMPTY": empty,
        "T": tmp_path / "t.csv",
        "S": space,
        "NOLABEL": tmp_path / "nolabel.csv",
        "TYPO": tmp_path / "typo.csv",
    }


BASE = ["--space", "S"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--model", "cnn", "--label-column", "y"],
            "--label-column describes your own data: add --data",
        ),
        (["--model", "cnn", "--data", "nowhere/"], "--data nowhere/: no such file or directory"),
        (["--model", "cnn", "--data", "P", "--dataset", "mnist"], "give one of them"),
        (
            ["--model", "cnn", "--data", "P", "--test-data", "P", "--test-fraction", "0.2"],
            "give --test-data PATH or --test-fraction, not both",
        ),
        (["--model", "cnn", "--data", "P", "--test-fraction", "1.5"], "--test-fraction must be"),
        (["--model", "cnn", "--data", "P", "--backbone", "resnet50"], "add --model transfer"),
        (
            ["--model", "transfer", "--data", "P", "--weights", "no.h5"],
            "--weights no.h5: no such file",
        ),
        (
            ["--model", "transfer", "--data", "P", "--weights", "none", "--backbone", "alexnet"],
            "unknown backbone 'alexnet'",
        ),
        (
            ["--model", "cnn", "--data", "P", "--image-size", "big"],
            "--image-size must be HEIGHTxWIDTH",
        ),
        (
            ["--model", "cnn", "--data", "P", "--train-subset", "10"],
            "--train-subset applies to the built-in",
        ),
        (
            ["--model", "mlp", "--data", "P"],
            "is a folder of class subfolders, but model 'mlp' trains on features",
        ),
        (["--model", "mlp"], "model 'mlp' trains on tables of numeric features"),
        (
            ["--model", "cnn", "--data", "T", "--label-column", "segment"],
            "is a table of features, but model 'cnn' trains on images",
        ),
        (["--model", "mlp", "--data", "T"], "name its label column with --label-column"),
        (["--model", "mlp", "--data", "T", "--label-column", "churned"], "has no column 'churned'"),
        (
            [
                "--model",
                "mlp",
                "--data",
                "T",
                "--label-column",
                "segment",
                "--feature-columns",
                "income,customer_id",
            ],
            "feature column 'customer_id' is not numeric",
        ),
        (
            ["--model", "mlp", "--data", "NOLABEL", "--label-column", "y"],
            r"1 of 13 rows have no 'y' label \(row 13, counting data rows from 1\)",
        ),
        (
            ["--model", "mlp", "--data", "TYPO", "--label-column", "y"],
            r"column 'f1' holds numbers, but row 7 holds 'abc'",
        ),
        (
            ["--model", "mlp", "--data", "T", "--label-column", "segment", "--id-column", "no"],
            r"--id-column 'no' is not a column of --data",
        ),
        (["--model", "mlp", "--id-column", "n"], "--id-column describes your own data"),
        (["--model", "cnn", "--data", "ONE"], "found a single class"),
        (["--model", "cnn", "--data", "EMPTY"], "class folder.s. yellow hold no images"),
        (
            ["--model", "cnn", "--data", "P", "--space", "BAD"],
            r"unknown hyperparameter\(s\) 'neurons' for model 'cnn'",
        ),
    ],
)
def test_usage_errors_exit_2_before_spark(
    argv: list[str],
    message: str,
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("neurons: 3\n")
    paths = {**files, "BAD": bad}
    full = [str(paths[a]) if a in paths else a for a in [*BASE, *argv]]
    out = tmp_path / "run"
    assert main(["tune", *full, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err.replace("\n", " ")), err
    assert "Traceback" not in err
    assert not out.exists()


def test_bad_broadcast_limit_is_refused_by_the_parser(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["tune", "--model", "cnn", "--space", "s", "--broadcast-limit", "lots"])
    assert exc.value.code == 2
    assert "expected a size such as 256M" in capsys.readouterr().err


def test_help_explains_the_data_forms(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["tune", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for words in (
        "folder of class subfolders",
        "Parquet or CSV table",
        "--feature-columns",
        "--broadcast-limit",
        "transfer",
        "--weights FILE|imagenet|none",
    ):
        assert words in text, words


@pytest.mark.slow
def test_cnn_from_the_command_line_then_predict_answers_folder_names(
    spark, spark_flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    photos = class_folders(tmp_path / "photos", per_class=24)
    space = tmp_path / "space.yaml"
    space.write_text("epochs: 4\nbatch_size: 8\nfilters: 8\nconv_layers: 1\nlearning_rate: 0.002\n")
    run = tmp_path / "p1"
    code = main(
        [
            "tune",
            "--model",
            "cnn",
            "--data",
            str(photos),
            "--test-fraction",
            "0.25",
            "--space",
            str(space),
            "--trials",
            "1",
            "--seed",
            "3",
            "--out",
            str(run),
            "--no-report",
            *spark_flags,
        ]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "3 classes" in err and "input 16x16x3" in err
    config = json.loads((run / "config.json").read_text())
    assert config["data"] == str(photos) and config["test_fraction"] == 0.25
    assert config["data_report"]["test"] == 18
    new = class_folders(tmp_path / "new", per_class=3, seed=11)
    out = tmp_path / "preds.csv"
    assert (
        main(
            [
                "predict",
                "--model",
                str(run),
                "--input",
                str(new),
                "--out",
                str(out),
                "--top-k",
                "1",
                *spark_flags,
            ]
        )
        == 0
    )
    preds = pd.read_csv(out)
    folder = preds["id"].str.extract(r"/new/(\w+)/")[0]
    label = preds["top_k"].map(lambda t: json.loads(t)[0]["label"])
    assert len(preds) == 9 and (folder == label).mean() >= 0.8
    # the same images as a table of paths relative to it (as tune --data takes it)
    files = sorted(new.glob("*/*.png"))
    table = pd.DataFrame({"path": [f"{f.parent.name}/{f.name}" for f in files]})
    table["label"] = [f.parent.name for f in files]
    table.to_csv(new / "images.csv", index=False)
    capsys.readouterr()
    argv = ["predict", "--model", str(run), "--input", str(new / "images.csv")]
    out2 = tmp_path / "p.parquet"
    assert main([*argv, "--image-column", "path", "--out", str(out2), *spark_flags]) == 0
    assert capsys.readouterr().out.startswith("9 rows: 9 ok, 0 failed")
    rows = pd.read_parquet(out2)
    assert sorted(rows["id"]) == sorted(table["path"])
    by_table = rows["top_k"].map(lambda t: t[0]["label"])
    assert (rows["id"].str.split("/").str[0] == by_table).mean() >= 0.8
