"""``sparktf cluster``: a Spark standalone cluster on this machine's loopback."""

from __future__ import annotations

import argparse
from typing import Any

STATE_HELP = "state directory (default: $XDG_STATE_HOME/sparktf/cluster)"

#: ``sparktf cluster status`` exits with this when no cluster runs (LSB "program is not running").
NOT_RUNNING = 3


def _whole(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    return value


def register(sub: Any) -> None:
    """Add ``cluster start|stop|status`` to the CLI."""
    p = sub.add_parser(
        "cluster",
        help="start/stop a Spark standalone cluster on this machine (127.0.0.1)",
        description="A Spark standalone cluster (master + N workers, from the Spark that pyspark "
        "ships) on this machine's loopback, for trying the cluster code paths, tests and "
        "benchmarks. Pass the printed master URL to --master of any command.",
    )
    csub = p.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)

    start = csub.add_parser(
        "start",
        help="start a master and N workers; prints the master URL",
        description="Start a master and N workers on 127.0.0.1 and wait until the master lists "
        "them all ALIVE. Prints the master URL (spark://127.0.0.1:PORT) on stdout, and with "
        "--connect the Spark Connect URL (sc://127.0.0.1:PORT) on the next line. Logs, pid "
        "files and the workers' work directories go to the state directory. Fails if a "
        "cluster started from the same state directory still runs.",
    )
    start.add_argument("--workers", type=_whole, default=2, help="worker processes (default 2)")
    start.add_argument("--cores", type=_whole, default=1, help="cores per worker (default 1)")
    start.add_argument(
        "--memory",
        default="2g",
        help="memory per worker, e.g. 2g or 1536m (default 2g; each executor takes "
        "spark.executor.memory, 1g by default, of it)",
    )
    start.add_argument(
        "--gpus",
        type=_whole,
        default=0,
        help="GPUs per worker (spark.worker.resource.gpu.amount; default 0)",
    )
    start.add_argument(
        "--gpu-discovery-script",
        help='script printing {"name": "gpu", "addresses": [...]} (default: worker i gets '
        "GPUs (i-1)*G .. i*G-1 of nvidia-smi)",
    )
    start.add_argument(
        "--connect",
        action="store_true",
        help="also start a Spark Connect server on the cluster; pass its sc:// URL to --remote",
    )
    start.add_argument("--state-dir", help=STATE_HELP)
    start.add_argument(
        "--timeout", type=float, default=90.0, help="seconds to wait for the workers (default 90)"
    )
    start.set_defaults(func=run_start)

    stop = csub.add_parser(
        "stop",
        help="stop the cluster and every process it forked",
        description="Stop the master, the workers, their executors and Python workers: only "
        "processes that 'start' started (checked by pid, start time and command line). Exits 0, "
        "also when no cluster runs.",
    )
    stop.add_argument("--state-dir", help=STATE_HELP)
    stop.set_defaults(func=run_stop)

    status = csub.add_parser(
        "status",
        help="show the running cluster (exit 3 when none)",
        description="Show the master URL, each process and whether it runs, and the workers the "
        f"master sees. Exits 0 when every process runs and the master sees every worker, 1 when "
        f"some are gone, {NOT_RUNNING} when no cluster runs.",
    )
    status.add_argument("--state-dir", help=STATE_HELP)
    status.set_defaults(func=run_status)


def run_start(args: argparse.Namespace) -> int:
    """Start the cluster and print its master URL."""
    from sparktf.cluster import ClusterSpec, start_cluster
    from sparktf.console import console

    spec = ClusterSpec(
        workers=args.workers,
        cores=args.cores,
        memory=args.memory,
        state_dir=args.state_dir,
        gpus=args.gpus,
        gpu_discovery_script=args.gpu_discovery_script,
        timeout=args.timeout,
        connect=args.connect,
    )
    what = " and a Spark Connect server" if args.connect else ""
    with console.status(f"starting a Spark master and {args.workers} worker(s){what} ..."):
        info = start_cluster(spec)
    print(info.master_url, flush=True)
    if info.connect_url:
        print(info.connect_url, flush=True)
    gpus = f", {info.gpus} GPU(s)" if info.gpus else ""
    console.print(
        f"cluster up: {info.workers} worker(s) × {info.cores} core(s), {info.memory}{gpus}\n"
        f"  master  {info.master_url}   web UI {info.web_ui_url}\n"
        f"  state   {info.state_dir} (logs/, work/, *.pid)\n"
        + (f"  connect {info.connect_url}   (Spark Connect)\n" if info.connect_url else "")
        + f"  use     sparktf ... --master {info.master_url}\n"
        + (f"          sparktf ... --remote {info.connect_url}\n" if info.connect_url else "")
        + "  stop    sparktf cluster stop"
        + (f" --state-dir {args.state_dir}" if args.state_dir else ""),
        soft_wrap=True,
    )
    return 0


def run_stop(args: argparse.Namespace) -> int:
    """Stop the cluster (exit 0 also when none runs)."""
    from sparktf.cluster import default_state_dir, stop_cluster
    from sparktf.console import console

    result = stop_cluster(args.state_dir)
    if result.info is None:
        where = args.state_dir or default_state_dir()
        console.print(f"no sparktf cluster is running (nothing recorded in {where})")
        return 0
    if result.stopped:
        console.print(
            f"stopped the cluster {result.info.master_url}: {len(result.stopped)} process(es)"
        )
    else:
        console.print(f"the cluster {result.info.master_url} had already exited; state cleared")
    return 0


def run_status(args: argparse.Namespace) -> int:
    """Print the cluster's state; exit 0 when it runs, NOT_RUNNING otherwise."""
    from sparktf.cluster import cluster_status, default_state_dir

    st = cluster_status(args.state_dir)
    if st is None or not st.running:
        where = args.state_dir or default_state_dir()
        print(f"no sparktf cluster is running (state directory {where})")
        return NOT_RUNNING
    info = st.info
    seen = "?" if st.alive_workers is None else str(st.alive_workers)
    print(f"master   {info.master_url}")
    print(f"web UI   {info.web_ui_url}")
    if info.connect_url:
        print(f"connect  {info.connect_url}")
    print(f"workers  {seen} of {info.workers} ALIVE ({info.cores} core(s), {info.memory} each)")
    for proc, alive in zip(info.processes, st.alive, strict=True):
        state = "running" if alive else "EXITED"
        print(f"  {proc.role:<10} pid {proc.pid:<8} {state:<8} log {proc.log}")
    print(f"state    {info.state_dir}")
    return 0 if st.healthy else 1
