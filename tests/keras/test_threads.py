"""Each Spark task sees only its own GPUs: real Spark, fake GPUs from a discovery script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sparktf.cluster import standalone_cluster
from sparktf.keras.threads import task_gpus, visible_gpus

# Two concurrent tasks (a barrier stage) on one executor holding two GPUs, one GPU per task.
GPU_CLIENT = textwrap.dedent(
    """
    import json, os, sys
    from sparktf.cluster import wait_for_executors
    from sparktf.spark import session

    conf = {
        "spark.ui.enabled": "false",
        "spark.executor.resource.gpu.amount": "2",
        "spark.task.resource.gpu.amount": "1",
        "spark.executorEnv.CUDA_VISIBLE_DEVICES": "7",  # what a task must get back after
    }
    spark = session(sys.argv[1], app_name="gpu-test", conf=conf)
    wait_for_executors(spark, 1)

    def probe(_):
        from pyspark import BarrierTaskContext
        from sparktf.keras.threads import task_gpus, visible_gpus
        ctx = BarrierTaskContext.get()
        gpus = task_gpus()
        before = os.environ.get("CUDA_VISIBLE_DEVICES")
        with visible_gpus(gpus):
            inside = os.environ.get("CUDA_VISIBLE_DEVICES")
            order = os.environ.get("CUDA_DEVICE_ORDER")
            ctx.barrier()  # both tasks hold their GPU at the same time here
        yield {"gpus": gpus, "before": before, "inside": inside, "order": order,
               "after": os.environ.get("CUDA_VISIBLE_DEVICES"),
               "order_after": os.environ.get("CUDA_DEVICE_ORDER"), "pid": os.getpid()}

    rows = spark.sparkContext.parallelize(range(2), 2).barrier().mapPartitions(probe).collect()
    print(json.dumps(rows))
    spark.stop()
    """
)


@pytest.mark.slow
def test_concurrent_tasks_get_different_gpus_on_a_standalone_cluster(tmp_path: Path) -> None:
    script = tmp_path / "fake-gpus.sh"
    script.write_text('#!/usr/bin/env bash\necho \'{"name": "gpu", "addresses": ["0", "1"]}\'\n')
    script.chmod(0o755)
    with standalone_cluster(
        workers=1,
        cores=2,
        memory="1g",
        state_dir=tmp_path / "cluster",
        gpus=2,
        gpu_discovery_script=str(script),
    ) as cluster:
        out = subprocess.run(
            [sys.executable, "-c", GPU_CLIENT, cluster.master_url],
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = json.loads(out.stdout.strip().splitlines()[-1])
    assert len({r["pid"] for r in rows}) == 2  # two Python workers, running at once
    assert sorted(r["gpus"] for r in rows) == [["0"], ["1"]]
    for r in rows:
        assert r["inside"] == r["gpus"][0]  # only its own GPU is visible
        assert r["order"] == "PCI_BUS_ID"  # numbered as nvidia-smi numbers them
        assert r["before"] == "7" and r["after"] == "7"  # restored
        assert r["order_after"] is None


def test_tasks_without_gpus_see_an_unchanged_environment(spark) -> None:
    def probe(_: object) -> object:
        from sparktf.keras.threads import task_visible_gpus

        before = dict(os.environ)
        with task_visible_gpus() as gpus:
            same = dict(os.environ) == before
        yield gpus, same

    rows = spark.sparkContext.parallelize(range(2), 2).mapPartitions(probe).collect()
    assert rows == [([], True), ([], True)]


def test_visible_gpus_restores_previous_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "FASTEST_FIRST")
    with visible_gpus(["0", "2"]):
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,2"
        assert os.environ["CUDA_DEVICE_ORDER"] == "FASTEST_FIRST"  # the user's choice stays
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.delenv("CUDA_DEVICE_ORDER")
    with pytest.raises(RuntimeError), visible_gpus(["GPU-5e1f"]):
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "GPU-5e1f"
        assert os.environ["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
        raise RuntimeError("the trial failed")
    assert "CUDA_VISIBLE_DEVICES" not in os.environ  # restored on error too
    assert "CUDA_DEVICE_ORDER" not in os.environ


def test_outside_spark_there_are_no_task_gpus() -> None:
    assert task_gpus() == []
    before = dict(os.environ)
    with visible_gpus([]):
        assert dict(os.environ) == before
