"""What makes a study's trials durable: where they save checkpoints, and the preflight that
checks the executors before the first trial."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sparktf.execution.channel import ChannelAddress
from sparktf.execution.checkpoints import CheckpointPlace
from sparktf.execution.preflight import Needs, host_port
from sparktf.tuning.config import TuneConfig

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from sparktf.execution.backends import Backend

Say = Callable[[str], None]


def checkpoint_place(cfg: TuneConfig, spark: SparkSession, say: Say) -> CheckpointPlace | None:
    """Where the study's trials save their checkpoints: ``--checkpoint-dir``; by default the
    run directory, where the executors can write it (they run on this machine: a local master,
    a ``sparktf cluster``); else none, with a line saying how to turn them on."""
    if not cfg.checkpoints:
        return None
    root = cfg.checkpoint_dir
    if root is None:
        from sparktf.spark import executors_on_this_machine, resolve_remote

        if not executors_on_this_machine(spark, resolve_remote(cfg.remote, cfg.master)):
            say(
                "checkpoints are off: the executors may not reach the run directory; give "
                "--checkpoint-dir URL (hdfs://, s3://, gs://, a shared folder) to turn them on"
            )
            return None
        root = str(cfg.run_dir.checkpoints.resolve())
    return CheckpointPlace(root, cfg.study_name, cfg.checkpoint_every)


def preflight_hook(
    backend: Backend,
    keras: bool,
    place: CheckpointPlace | None,
    slots: tuple[int, int],
    say: Say,
) -> Callable[[ChannelAddress | None], None]:
    """The check the dispatcher runs once its report channel listens, before any trial
    (``slots``: the study's parallelism and the cluster's task slots); the backend hears
    whether the executors reach the channel (where it was checked).

    Raises:
        ConfigError: a check failed (the table says which, and the fix).
    """

    def check(channel: ChannelAddress | None) -> None:
        gpus = float(_conf(backend.spark, "spark.task.resource.gpu.amount") or 0) > 0
        needs = Needs(
            tensorflow=keras,
            gpus=gpus,
            channel=host_port(channel.url) if channel is not None else None,
            store=place.root if place is not None else None,
        )
        parallelism, tasks = slots
        result = backend.preflight(needs, tasks, parallelism)
        result.raise_if_failed()
        for row in result.warnings:
            say(f"warning: {row.name}: {row.detail}; {row.fix}")
        reachable = result.channel_reachable
        line = None if reachable is None else backend.channel_checked(reachable)
        if line:
            say(line)

    return check


def _conf(spark: Any, key: str) -> str | None:
    try:
        value = spark.conf.get(key, None)
        return None if value is None else str(value)
    except Exception:  # a Connect server that hides its configuration
        return None
