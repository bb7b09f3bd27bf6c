"""``sparktf cluster``: a real Spark standalone cluster on loopback, started, used and stopped.

The client jobs run in a subprocess: this test process already holds the local[2] SparkContext
of the shared ``spark`` fixture, and a process can hold only one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from sparktf.cli import main
from sparktf.cluster import (
    DIR_VAR,
    STATE_FILE,
    ClusterError,
    ClusterInfo,
    DaemonProcess,
    cluster_status,
    default_state_dir,
    kill_worker,
    parse_memory,
    standalone_cluster,
    start_cluster,
    stop_cluster,
)
from sparktf.errors import ConfigError
from sparktf.spark import is_loopback_master

CLI = [sys.executable, "-m", "sparktf.cli"]

# A driver on the cluster: runs one task per worker, prints what each task saw, then keeps the
# application (and so its executors and Python workers) alive until its stdin closes.
CLIENT = textwrap.dedent(
    """
    import json, os, sys
    from sparktf.cluster import wait_for_executors
    from sparktf.spark import session

    spark = session(sys.argv[1], app_name="cluster-test", conf={"spark.ui.enabled": "false"})
    wait_for_executors(spark, int(sys.argv[2]))

    def probe(_):
        import sparktf
        chain, pid = [], os.getpid()
        while pid > 1:
            chain.append(pid)
            with open(f"/proc/{pid}/stat") as fh:
                pid = int(fh.read().rsplit(")", 1)[1].split()[1])
        yield {"exe": sys.executable, "version": sparktf.__version__, "cwd": os.getcwd(),
               "ancestors": chain}

    n = int(sys.argv[2])
    rows = spark.sparkContext.parallelize(range(n), n).barrier().mapPartitions(probe).collect()
    print(json.dumps(rows), flush=True)
    sys.stdin.read()
    """
)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _marked_processes(state_dir: Path) -> list[int]:
    """Every running process of the cluster(s) started from ``state_dir`` (other sessions may
    run clusters of their own on this machine at the same time)."""
    mark = f"{DIR_VAR}={state_dir.resolve()}".encode()
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                env = Path(f"/proc/{d}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if mark in env and _running(int(d)):
                found.append(int(d))
    return found


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """A state directory whose cluster is stopped after the test, whatever happened."""
    sdir = tmp_path / "state"
    yield sdir
    stop_cluster(sdir, grace=3)


@pytest.mark.slow
def test_start_use_status_refuse_and_stop(state_dir: Path, capsys: pytest.CaptureFixture) -> None:
    # start through the CLI: the master URL is the only thing on stdout
    out = subprocess.run(
        [
            *CLI,
            "cluster",
            "start",
            "--workers",
            "2",
            "--cores",
            "1",
            "--memory",
            "1g",
            "--state-dir",
            str(state_dir),
        ],
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert out.returncode == 0, out.stderr
    master_url = out.stdout.strip()
    assert master_url.startswith("spark://127.0.0.1:")
    assert "sparktf cluster stop" in out.stderr

    info = ClusterInfo.from_json(json.loads((state_dir / STATE_FILE).read_text()))
    assert info.master_url == master_url and len(info.worker_pids) == 2
    for proc in info.processes:
        assert (state_dir / f"{proc.role}.pid").read_text().strip() == str(proc.pid)
        assert proc.log.is_file()
    status = cluster_status(state_dir)
    assert status is not None and status.healthy and status.alive_workers == 2

    # a driver on the cluster: its two tasks run in the two workers' executors, on this Python
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT, master_url, "2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = client.stdout.readline() if client.stdout else ""
        assert line, client.stderr.read() if client.stderr else ""
        rows = json.loads(line)
        assert {r["exe"] for r in rows} == {sys.executable}
        assert {r["version"] for r in rows} == {__import__("sparktf").__version__}
        owners = sorted(
            next(w for w in info.worker_pids if w in r["ancestors"]) for r in rows
        )  # which worker JVM each task's Python worker descends from
        assert owners == sorted(info.worker_pids)
        assert sorted(Path(r["cwd"]).relative_to(state_dir / "work").parts[0] for r in rows) == [
            "worker-1",
            "worker-2",
        ]
        forked = {p for r in rows for p in r["ancestors"][:3]}  # Python worker, daemon, executor
        assert all(_running(p) for p in forked)

        # the CLI status shows it; a second start is refused, naming the running master
        assert main(["cluster", "status", "--state-dir", str(state_dir)]) == 0
        assert master_url in capsys.readouterr().out
        with pytest.raises(ClusterError, match="already running") as err:
            start_cluster(workers=1, state_dir=state_dir)
        assert master_url in str(err.value) and "sparktf cluster stop" in str(err.value)
        again = subprocess.run(
            [*CLI, "cluster", "start", "--state-dir", str(state_dir)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert again.returncode == 1 and master_url in again.stderr
        assert cluster_status(state_dir).healthy  # type: ignore[union-attr]

        # kill worker 2 (JVM, executor, Python workers): worker 1's processes stay
        w2 = next(r for r in rows if info.worker_pids[1] in r["ancestors"])
        killed = kill_worker(info, 2)
        assert killed[0] == info.worker_pids[1]
        assert set(w2["ancestors"][:3]) <= set(killed)
        assert not [p for p in killed if _running(p)]
        assert all(_running(p) for p in (info.master_pid, info.worker_pids[0]))
        assert main(["cluster", "status", "--state-dir", str(state_dir)]) == 1  # degraded
        assert "EXITED" in capsys.readouterr().out

        # stop, with the application still running: everything it forked goes too
        stop = subprocess.run(
            [*CLI, "cluster", "stop", "--state-dir", str(state_dir)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert stop.returncode == 0 and f"stopped the cluster {master_url}" in stop.stderr
        assert not [p for p in (*info.pids, *forked) if _running(p)]
        assert _marked_processes(state_dir) == []
        assert not (state_dir / STATE_FILE).exists()
        assert not list(state_dir.glob("*.pid"))
        assert info.master_log.is_file()  # logs stay until the next start
    finally:
        client.kill()
        client.wait()

    # nothing left: stop says so and exits 0, status exits 3
    assert main(["cluster", "stop", "--state-dir", str(state_dir)]) == 0
    assert "no sparktf cluster is running" in capsys.readouterr().err
    assert main(["cluster", "status", "--state-dir", str(state_dir)]) == 3


def test_start_timeout_is_clear_and_leaves_nothing(state_dir: Path) -> None:
    with pytest.raises(ClusterError, match="did not answer") as err:
        start_cluster(workers=1, state_dir=state_dir, timeout=0.5)
    assert "master.log" in str(err.value)
    assert _marked_processes(state_dir) == []
    assert not (state_dir / STATE_FILE).exists()


def test_stop_never_kills_a_process_it_did_not_start(state_dir: Path) -> None:
    # a state file whose "master" pid now belongs to an unrelated process (pid reuse)
    other = subprocess.Popen(["sleep", "60"])
    try:
        ticks = int(Path(f"/proc/{other.pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        fake = ClusterInfo(
            master_url="spark://127.0.0.1:1",
            web_ui_url="http://127.0.0.1:1",
            state_dir=state_dir,
            workers=0,
            cores=1,
            memory="1g",
            gpus=0,
            cluster_id="not-this-one",
            processes=(DaemonProcess("master", other.pid, ticks, state_dir / "m.log", ""),),
        )
        state_dir.mkdir(parents=True)
        (state_dir / STATE_FILE).write_text(json.dumps(fake.to_json()))
        status = cluster_status(state_dir)
        assert status is not None and not status.running
        assert main(["cluster", "status", "--state-dir", str(state_dir)]) == 3
        result = stop_cluster(state_dir, grace=1)
        assert result.info == fake and result.stopped == ()
        assert other.poll() is None  # still running
    finally:
        other.kill()
        other.wait()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workers": 0}, "number of workers must be at least 1, got 0"),
        ({"cores": 0}, "cores per worker must be at least 1"),
        ({"gpus": -1}, "GPUs per worker must be 0 or more"),
        ({"memory": "2"}, "expected a number with a unit m, g or t"),
        ({"memory": "lots"}, "invalid worker memory 'lots'"),
        ({"memory": "256m"}, "too small"),
        ({"gpu_discovery_script": "/bin/true"}, "also pass --gpus"),
        ({"gpus": 1, "gpu_discovery_script": "/no/such/script"}, "not an executable file"),
    ],
)
def test_bad_arguments_are_config_errors(
    kwargs: dict[str, object], message: str, state_dir: Path
) -> None:
    with pytest.raises(ConfigError, match=message):
        start_cluster(state_dir=state_dir, **kwargs)  # type: ignore[arg-type]
    assert _marked_processes(state_dir) == []


@pytest.mark.parametrize(
    "flags", [["--workers", "0"], ["--memory", "2"], ["--cores", "-1"], ["--gpus", "-2"]]
)
def test_cli_bad_input_exits_2(
    flags: list[str], state_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["cluster", "start", *flags, "--state-dir", str(state_dir)]) == 2
    assert "error:" in capsys.readouterr().err


def test_cli_non_number_exits_2(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["cluster", "start", "--workers", "two"])
    assert exc.value.code == 2
    assert "expected a whole number, got 'two'" in capsys.readouterr().err


def test_memory_sizes_are_normalised() -> None:
    assert parse_memory("2G") == "2g"
    assert parse_memory("1536mb") == "1536m"
    assert parse_memory("1t") == "1t"


def test_default_state_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_state_dir() == tmp_path / "sparktf" / "cluster"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_state_dir() == Path.home() / ".local" / "state" / "sparktf" / "cluster"


def test_cluster_help_lists_actions(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["cluster", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(action in out for action in ("start", "stop", "status"))


@pytest.mark.slow
def test_context_manager_stops_on_error(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="boom"),
        standalone_cluster(workers=1, cores=1, memory="1g", state_dir=tmp_path / "cm") as info,
    ):
        assert all(_running(p) for p in info.pids)
        raise RuntimeError("boom")
    assert not [p for p in info.pids if _running(p)]
    assert _marked_processes(tmp_path / "cm") == []


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("spark://127.0.0.1:7077", True),
        ("spark://localhost:7077/", True),
        ("spark://127.0.0.1:7077,localhost:7078", True),
        ("spark://10.0.0.5:7077", False),
        ("spark://127.0.0.1:7077,node2:7077", False),
        ("local[2]", False),
        ("yarn", False),
    ],
)
def test_loopback_masters_are_recognised(url: str, loopback: bool) -> None:
    assert is_loopback_master(url) is loopback
