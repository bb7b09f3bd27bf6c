"""Read-from-path on a real 2-worker standalone cluster: the executors decode the class folders
themselves (nothing but the plan is broadcast), cache them on local disk, and the study learns."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sparktf.cluster import standalone_cluster
from tests.clusterutil import cli_env, run_cli, tail, write_space
from tests.datasets.owndata import class_folders


@pytest.mark.slow
def test_executors_read_class_folders_from_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "executor-cache"
    monkeypatch.setenv("SPARKTF_DATA_CACHE", str(cache))  # the workers inherit it
    assert cli_env()["SPARKTF_DATA_CACHE"] == str(cache)
    photos = class_folders(tmp_path / "photos", per_class=24)
    space = write_space(
        tmp_path / "space.json",
        {"epochs": 4, "batch_size": 8, "filters": 8, "conv_layers": 1, "learning_rate": 0.002},
    )
    run = tmp_path / "run"
    with standalone_cluster(workers=2, cores=1, memory="2g", state_dir=tmp_path / "c") as info:
        rc = run_cli(
            [
                "tune",
                "--model",
                "cnn",
                "--data",
                str(photos),
                "--broadcast-limit",
                "0",
                "--space",
                str(space),
                "--trials",
                "2",
                "--master",
                info.master_url,
                "--conf",
                "spark.cores.max=2",
                "--out",
                str(run),
                "--quiet",
                "--no-report",
            ],
            tmp_path / "tune.log",
        )
    assert rc == 0, tail(tmp_path / "tune.log")
    report = json.loads((run / "config.json").read_text())["data_report"]
    assert report["shipped"] == "read from path by the executors"
    trials = pd.read_csv(run / "trials.csv")
    assert (trials["state"] == "COMPLETE").all() and trials["test_accuracy"].max() >= 0.9
    assert list(cache.glob("sparktf-path-*.npz")), "the executors kept no decoded copy"
