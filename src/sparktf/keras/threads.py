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
_GPU_VARS = ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER")


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
    """Addresses of the GPUs the current Spark task holds (empty when none or outside Spark).

    They come from ``TaskContext.resources()["gpu"]``: Spark assigns them when the session sets
    ``spark.task.resource.gpu.amount`` and the executors have GPUs
    (``spark.executor.resource.gpu.amount``, found by a discovery script).
    """
    try:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        if ctx is not None:
            gpu = ctx.resources().get("gpu")
            if gpu is not None:
                return [str(a) for a in gpu.addresses]
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
    """Show only the GPUs ``addresses`` to CUDA inside the block, then restore the environment.

    Sets ``CUDA_VISIBLE_DEVICES`` to the addresses (indices or ``GPU-...`` UUIDs, as Spark's
    discovery script reported them) and, unless already set, ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` so
    that CUDA numbers GPUs as ``nvidia-smi`` (and so the discovery script) does. Both variables
    get their previous values back afterwards. An empty list leaves the environment unchanged.

    CUDA reads the variable when a process first initialises it: call this before TensorFlow
    touches a GPU in this process. A reused Python worker keeps the GPUs of its first task, so
    GPU tasks should run in workers that always get the same GPU, or with
    ``spark.python.worker.reuse=false``.

    Args:
        addresses: GPU addresses, e.g. ``task_gpus()``.
    """
    if not addresses:
        yield
        return
    saved = {var: os.environ.get(var) for var in _GPU_VARS}
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(a).strip() for a in addresses)
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    try:
        yield
    finally:
        for var, old in saved.items():
            if old is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = old


@contextmanager
def task_visible_gpus() -> Iterator[list[str]]:
    """``visible_gpus(task_gpus())``: inside a Spark task, show CUDA only the task's GPUs.

    Yields:
        The task's GPU addresses (empty when it holds none; the environment is then unchanged).
    """
    gpus = task_gpus()
    with visible_gpus(gpus):
        yield gpus
