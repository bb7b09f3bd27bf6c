"""Make TensorFlow use exactly the cores (and GPUs) a Spark task holds.

Spark gives each task ``spark.task.cpus`` cores. TensorFlow would otherwise start one thread per
core of the machine in every task, and N tasks on N cores would fight over N² threads.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_THREAD_VARS = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def task_cpus(default: int = 1) -> int:
    """Cores held by the current Spark task (``spark.task.cpus``); ``default`` outside a task."""
    try:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        if ctx is not None:
            return max(1, int(ctx.cpus()))
    except Exception:  # not inside Spark, or an old pyspark without cpus()
        pass
    return default


def task_gpus() -> list[str]:
    """Addresses of the GPUs the current Spark task holds (empty when none or outside Spark)."""
    try:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        if ctx is not None and "gpu" in ctx.resources():
            return list(ctx.resources()["gpu"].addresses)
    except Exception:
        pass
    return []


def configure_threads(n: int) -> None:
    """Limit TensorFlow and OpenMP to ``n`` threads in this process.

    Environment variables cover a TensorFlow not yet imported; an imported but not yet
    initialised TensorFlow is configured through ``tf.config.threading``. Once TensorFlow's
    runtime has started, its pools cannot change: sparktf calls this before the first model of
    every worker process, and a worker keeps the same task size for its life.
    """
    n = max(1, int(n))
    for var in _THREAD_VARS:
        os.environ[var] = str(n)
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(min(n, 2))
    except RuntimeError:
        pass  # runtime already initialised in this worker: the settings of its first task stay


@contextmanager
def visible_gpus(addresses: list[str]) -> Iterator[None]:
    """Show only the GPUs ``addresses`` to CUDA inside the block, then restore the previous
    ``CUDA_VISIBLE_DEVICES``. An empty list leaves the environment unchanged."""
    if not addresses:
        yield
        return
    old = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(addresses)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = old
