"""``sparktf doctor``: check that a cluster's executors can run sparktf's work."""

from __future__ import annotations

import argparse
from typing import Any

from sparktf.commands import add_conf_option, add_spark_options


def register(sub: Any) -> None:
    """Add ``doctor`` to the CLI."""
    p = sub.add_parser(
        "doctor",
        help="check that the executors can run sparktf (the preflight of tune and predict)",
        description="Run the preflight that 'sparktf tune' and 'sparktf predict' run before "
        "their first task, alone: one small Spark job that checks, on the executors, that "
        "sparktf is importable and the driver's version, the Python version, TensorFlow/Keras, "
        "pyarrow, GPUs (when tasks ask for them), the report channel, and a checkpoint store. "
        "Prints one row per check with its fix; exits 2 when a check fails.",
        epilog="examples:\n  sparktf doctor --master spark://head:7077\n"
        "  sparktf doctor --remote sc://connect-host:15002 --checkpoint-dir s3://bucket/ckpt",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_spark_options(p)
    add_conf_option(p)
    p.add_argument(
        "--checkpoint-dir", metavar="URL", help="also check that the executors can write here"
    )
    p.add_argument(
        "--no-tensorflow",
        action="store_true",
        help="do not require TensorFlow/Keras (objectives that do not use them)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start the session, run the preflight (with a report channel to reach), print it."""
    from sparktf.errors import ConfigError
    from sparktf.execution.backends import channel_host
    from sparktf.execution.channel import ChannelServer
    from sparktf.execution.checkpoints import check_store_url
    from sparktf.execution.preflight import Needs, host_port, run_preflight
    from sparktf.spark import session, task_slots

    if args.checkpoint_dir is not None:
        check_store_url(args.checkpoint_dir)
    spark = session(args.master, app_name="sparktf-doctor", conf=dict(args.conf or {}))
    gpus = float(spark.conf.get("spark.task.resource.gpu.amount", "0") or 0) > 0
    with ChannelServer(lambda *_: False, host=channel_host(spark)) as channel:
        needs = Needs(
            tensorflow=not args.no_tensorflow,
            gpus=gpus,
            channel=host_port(channel.address.url),
            store=args.checkpoint_dir,
        )
        result = run_preflight(spark, needs, task_slots(spark))
    print(result.table())
    if result.failed:
        raise ConfigError(f"{len(result.failed)} check(s) failed: see the table above")
    return 0
