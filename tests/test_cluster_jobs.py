"""``sparktf tune`` and ``sparktf predict`` unchanged against ``--master spark://...`` and through
the cluster's Spark Connect server (``--remote sc://...``, a client with no JVM): a real 2-worker
standalone cluster on loopback, the CLI drivers in subprocesses."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from sparktf.cluster import (
    STATE_FILE,
    ClusterInfo,
    cluster_processes,
    cluster_status,
    standalone_cluster,
)
from tests.clusterutil import (
    CLI,
    read_predictions,
    run_cli,
    save_gray_model,
    tail,
    write_pngs,
    write_space,
)

pytestmark = pytest.mark.slow  # real clusters and CLI drivers in subprocesses

# Hold the application until both executors have registered, so that the first trials do not
# all land on the executor that came first.
WAIT_FOR_BOTH = [
    "--conf",
    "spark.cores.max=2",
    "--conf",
    "spark.scheduler.minRegisteredResourcesRatio=1.0",
    "--conf",
    "spark.ui.enabled=false",
]


@pytest.fixture(scope="module")
def classic_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterInfo]:
    state = tmp_path_factory.mktemp("cluster-jobs")
    with standalone_cluster(workers=2, cores=1, memory="2g", state_dir=state) as info:
        yield info


@pytest.fixture(scope="module")
def connect_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterInfo]:
    """A cluster whose Spark Connect server holds both workers (a cluster of its own), started
    and stopped through the CLI: ``start --connect`` prints the master's URL, then the
    server's; ``stop`` leaves no process of either behind."""
    state = tmp_path_factory.mktemp("cluster-connect")
    cli = [*CLI, "cluster"]
    out = subprocess.run(
        [*cli, "start", "--workers", "2", "--connect", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr
    info = ClusterInfo.from_json(json.loads((state / STATE_FILE).read_text()))
    try:
        assert out.stdout.split() == [info.master_url, str(info.connect_url)]
        assert str(info.connect_url).startswith("sc://127.0.0.1:")
        status = cluster_status(state)
        assert status is not None and status.healthy and len(status.alive) == 4
        yield info
    finally:
        stop = subprocess.run([*cli, "stop", "--state-dir", str(state)], timeout=120, check=False)
    assert stop.returncode == 0
    assert not cluster_processes(info.cluster_id), "the Connect server or its executors survived"


@pytest.fixture(params=["master", "remote"])
def spark_args(request: pytest.FixtureRequest) -> list[str]:
    """How a CLI driver reaches the cluster: --master spark://... (a classic driver with
    its own application) or --remote sc://... (a Connect client of the cluster's server)."""
    if request.param == "master":
        info = request.getfixturevalue("classic_cluster")
        return ["--master", info.master_url, *WAIT_FOR_BOTH]
    info = request.getfixturevalue("connect_cluster")
    assert info.connect_url is not None
    return ["--remote", info.connect_url]


def test_tune_runs_on_both_workers_of_a_standalone_cluster(
    spark_args: list[str], tmp_path: Path
) -> None:
    space = write_space(
        tmp_path / "space.json", {"x": {"type": "grid", "values": [0, 1, 2, 3, 4, 5]}, "sleep": 1}
    )
    run = tmp_path / "run"
    rc = run_cli(
        [
            "tune",
            "--objective",
            "tests.objectives:quadratic_where",
            "--space",
            str(space),
            "--trials",
            "6",
            "--sampler",
            "grid",
            "--direction",
            "minimize",
            "--pruner",
            "none",
            *spark_args,
            "--out",
            str(run),
            "--quiet",
            "--no-report",
        ],
        tmp_path / "tune.log",
    )
    assert rc == 0, tail(tmp_path / "tune.log")
    df = pd.read_csv(run / "trials.csv")
    assert len(df) == 6 and (df["state"] == "COMPLETE").all(), df.to_string()
    assert sorted(df["params_x"]) == [0, 1, 2, 3, 4, 5]
    assert set(df["worker"]) == {1.0, 2.0}, "trials did not run on both workers"
    assert df["worker_pid"].nunique() >= 2
    assert (df["value"] == (df["params_x"] - 2) ** 2).all()
    saved = json.loads((run / "config.json").read_text())
    assert saved[spark_args[0][2:]] == spark_args[1]  # resume goes back to the same Spark
    assert json.loads((run / "best" / "params.json").read_text())["x"] == 2


def test_predict_runs_on_a_standalone_cluster(spark_args: list[str], tmp_path: Path) -> None:
    images = write_pngs(tmp_path / "images", 120)
    model = save_gray_model(tmp_path / "gray.keras")
    out = tmp_path / "preds.parquet"
    rc = run_cli(
        [
            "predict",
            "--model",
            str(model),
            "--input",
            str(tmp_path / "images"),
            "--out",
            str(out),
            *spark_args,
            "--partitions",
            "4",
            "--top-k",
            "3",
            "--no-progress",
        ],
        tmp_path / "predict.log",
    )
    assert rc == 0, tail(tmp_path / "predict.log")
    df = read_predictions(out)
    names = [Path(str(i)).name for i in df["id"]]
    assert sorted(names) == sorted(p.name for p in images)
    assert df["error"].isna().all()
    assert all(len(k) == 3 for k in df["top_k"])
