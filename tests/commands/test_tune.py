"""``sparktf tune`` on the command line: bad input, and one end-to-end run on real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sparktf.cli import main
from tests.conftest import needs_fashion


@pytest.fixture
def space_file(tmp_path: Path) -> Path:
    f = tmp_path / "space.yaml"
    f.write_text(
        "neurons: {type: choice, values: [32, 64]}\n"
        "learning_rate: {type: loguniform, low: 1.0e-4, high: 1.0e-2}\n"
        "batch_size: 64\n"
    )
    return f


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--space", "S"], "give exactly one of --model NAME or --objective"),
        (["--model", "mnist_cnn"], "--space FILE is required"),
        (["--model", "resnet", "--space", "S"], "unknown model 'resnet'"),
        (["--model", "mnist_cnn", "--space", "S", "--trials", "0"], "--trials must be at least 1"),
        (["--objective", "no_such_module:f", "--space", "S"], "cannot import objective"),
        (["--model", "mnist_cnn", "--space", "missing.yaml"], "cannot read search space file"),
        (["--model", "mnist_cnn", "--space", "BAD"], r"unknown hyperparameter\(s\) 'layers'"),
        (["--resume", "nowhere"], "cannot resume .*nowhere: no such directory"),
        (["--model", "mnist_cnn", "--space", "S", "--storage", "garbage://x"], "no database"),
        (["--model", "mnist_cnn", "--space", "S", "--storage", "notaurl"], "not a database URL"),
        (
            ["--model", "mnist_cnn", "--space", "S", "--storage", "sqlite:////no/such/dir/s.db"],
            "the folder /no/such/dir does not exist",
        ),
        (
            ["--model", "mnist_cnn", "--space", "S", "--val-fraction", "1.5"],
            "--val-fraction must be between 0 and 1",
        ),
        (["--model", "mnist_cnn", "--space", "S", "--master", "bogus"], "invalid Spark master"),
        (["--model", "mnist_cnn", "--space", "S", "--channel-address", "x"], "must be HOST:PORT"),
        (["--model", "mnist_cnn", "--space", "S", "--min-epochs", "0"], "--min-epochs must be"),
        (
            ["--model", "mnist_cnn", "--space", "S", "--checkpoint-dir", "ftp://h/c"],
            "unknown filesystem 'ftp'",
        ),
        (
            ["--model", "mnist_cnn", "--space", "S", "--checkpoint-dir", "c", "--no-checkpoints"],
            "--checkpoint-dir and --no-checkpoints exclude each other",
        ),
        (
            ["--model", "mnist_cnn", "--space", "S", "--checkpoint-every", "0"],
            r"--checkpoint-every must be at least 1 \(epochs\)",
        ),
        (["--model", "mnist_cnn", "--space", "S", "--max-failures", "-1"], "--max-failures must"),
        (["--model", "mnist_cnn", "--space", "S", "--dispatch", "slots"], "--dispatch must be"),
        (
            ["--model", "mnist_cnn", "--space", "S", "--dispatch", "slot", "--no-channel"],
            "drop --no-channel, or use --dispatch trial",
        ),
    ],
)
def test_bad_input_exits_2_with_a_message(
    argv: list[str], message: str, space_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("layers: {type: choice, values: [1, 2]}\n")
    argv = [
        str(space_file)
        if a == "S"
        else str(bad)
        if a == "BAD"
        else str(tmp_path / a)
        if a in ("missing.yaml", "nowhere")
        else a
        for a in argv
    ]
    out = tmp_path / "run"
    code = main(["tune", *argv, *([] if "--resume" in argv else ["--out", str(out)])])
    assert code == 2
    import re

    err = capsys.readouterr().err
    assert re.search(message, err.replace("\n", " ")), err
    assert "Traceback" not in err
    assert not out.exists(), "a refused configuration must not create the run directory"


def test_negative_timeout_is_rejected_by_the_parser(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["tune", "--model", "mnist_cnn", "--space", "s.yaml", "--trial-timeout", "-3"])
    assert exc.value.code == 2
    assert "expected a positive number of seconds" in capsys.readouterr().err


@pytest.mark.slow
@needs_fashion
def test_end_to_end_on_real_fashion_mnist(
    spark, space_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "fmnist"
    code = main(
        [
            "tune",
            "--model",
            "mnist_cnn",
            "--dataset",
            "fashion-mnist",
            "--train-subset",
            "3000",
            "--test-subset",
            "1000",
            "--space",
            str(space_file),
            "--trials",
            "3",
            "--sampler",
            "tpe",
            "--seed",
            "7",
            "--master",
            "local[2]",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "best: val_accuracy = " in printed
    for name in (
        "study.db",
        "trials.csv",
        "config.json",
        "best/model.keras",
        "best/params.json",
        "best/metrics.json",
        "best/preprocessing.json",
    ):
        assert (out / name).is_file(), name
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 3 and set(trials["state"]) == {"COMPLETE"}
    for col in (
        "number",
        "state",
        "value",
        "duration_s",
        "attempts",
        "worker_host",
        "worker_pid",
        "error",
        "params_neurons",
        "params_learning_rate",
        "test_accuracy",
        "test_error",
        "train_seconds",
    ):
        assert col in trials.columns, col
    best_row = trials.loc[trials["value"].idxmax()]
    metrics = json.loads((out / "best" / "metrics.json").read_text())
    params = json.loads((out / "best" / "params.json").read_text())
    assert (
        metrics["trial"] == best_row["number"] and params["neurons"] == best_row["params_neurons"]
    )
    assert metrics["test_accuracy"] > 0.5  # far above chance (0.1) after one epoch
    config = json.loads((out / "config.json").read_text())
    assert config["objective"] == "mnist_cnn" and config["trials"] == 3
    assert {"pyspark", "optuna", "keras", "python"} <= set(config["versions"])
    import keras
    from sparktf.datasets import load_fashion_mnist

    model = keras.models.load_model(out / "best" / "model.keras")
    ds = load_fashion_mnist(download=False)
    x = ds.x_test[:1000].astype(np.float32)[..., None] / 255.0
    acc = float(np.mean(model.predict(x, verbose=0).argmax(1) == ds.y_test[:1000]))
    assert acc == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert (out / "report.html").is_file()
