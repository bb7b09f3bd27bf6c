"""Fault tolerance with real processes: a worker of a standalone cluster killed in the middle of a
study or a prediction job, and the ``sparktf tune`` driver killed mid-study then resumed.

Each test that kills a worker has a cluster of its own; the drivers that are killed or stopped
run in subprocesses, and ``--resume`` runs in the test's process (on its Spark session).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sparktf.cli import main
from sparktf.cluster import ClusterInfo, descendants, kill_worker, standalone_cluster
from tests.clusterutil import (
    JOB_TIMEOUT,
    log_lines,
    read_predictions,
    save_gray_model,
    start_cli,
    study_trials,
    tail,
    wait_for,
    write_pngs,
    write_space,
)
from tests.conftest import classic_only
from tests.test_cluster_jobs import WAIT_FOR_BOTH

pytestmark = pytest.mark.slow  # real clusters and CLI drivers in subprocesses


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[ClusterInfo]:
    """A 2-worker cluster for one test (it will lose a worker)."""
    with standalone_cluster(workers=2, cores=1, memory="2g", state_dir=tmp_path / "cluster") as c:
        yield c


def _tune_args(space: Path, run: Path, trials: int, *extra: str) -> list[str]:
    return [
        "tune",
        "--objective",
        "tests.objectives:sleep_and_return",
        "--space",
        str(space),
        "--trials",
        str(trials),
        "--sampler",
        "grid",
        "--direction",
        "minimize",
        "--pruner",
        "none",
        "--out",
        str(run),
        "--quiet",
        "--no-report",
        *extra,
    ]


def _complete(trials: list) -> dict[int, float]:
    return {t.number: t.value for t in trials if t.state.name == "COMPLETE"}


def _python_workers(worker_pid: int) -> int:
    """PySpark daemon processes under a worker JVM: 2 or more once a task has started there."""
    found = 0
    for pid in descendants(worker_pid):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        found += b"pyspark.daemon" in cmd
    return found


WORKER_LOSS_XS = [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("via", ["master", "remote"])
def test_worker_loss_mid_study_loses_no_trial(via: str, tmp_path: Path) -> None:
    """The same through a classic driver and through the cluster's Spark Connect server."""
    gates = tmp_path / "gates"
    gates.mkdir()
    space = write_space(
        tmp_path / "space.json",
        {
            "x": {"type": "grid", "values": WORKER_LOSS_XS},
            "gate": str(gates),
            "log": str(tmp_path / "calls.log"),
        },
    )
    with standalone_cluster(
        workers=2, state_dir=tmp_path / "cluster", connect=via == "remote"
    ) as cluster:
        spark_args = (
            ["--master", cluster.master_url, *WAIT_FOR_BOTH]
            if via == "master"
            else ["--remote", str(cluster.connect_url)]
        )
        args = _tune_args(space, tmp_path / "run", len(WORKER_LOSS_XS), *spark_args)
        _lose_a_worker_mid_study(cluster, args, tmp_path)


def _lose_a_worker_mid_study(cluster: ClusterInfo, args: list[str], tmp_path: Path) -> None:
    """Every trial waits at its gate: the gates of the trials on worker 2 open; once one of
    them is COMPLETE while a trial waits on worker 1, worker 1 is killed, then every gate
    opens (the moment of the kill is a state of the study, not a duration)."""
    log, run, gates = tmp_path / "calls.log", tmp_path / "run", tmp_path / "gates"
    xs = WORKER_LOSS_XS
    proc = start_cli(args, tmp_path / "tune.log")
    try:

        def in_flight_on_worker_1() -> list[float]:
            # a trial completed (on worker 2), and another one waiting on worker 1 right now
            lines = log_lines(log)
            _open_gates(gates, [x for what, x, w in lines if what == "start" and w == 2])
            if not _complete(study_trials(run)):
                return []
            return [x for what, x, w in lines if what == "start" and w == 1]

        victims = wait_for(
            "a trial waiting on worker 1 after one completed",
            in_flight_on_worker_1,
            proc=proc,
            log=tmp_path / "tune.log",
        )
        before = _complete(study_trials(run))
        kill_worker(cluster, 1)
        assert proc.poll() is None, "the study ended before the kill"
        _open_gates(gates, xs)
        rc = proc.wait(timeout=JOB_TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert rc == 0, tail(tmp_path / "tune.log")

    trials = study_trials(run)
    assert len(trials) == len(xs), [(t.number, t.state.name) for t in trials]
    assert all(t.state.name == "COMPLETE" for t in trials), [
        (t.number, t.state.name, t.user_attrs.get("error")) for t in trials
    ]
    assert sorted(t.params["x"] for t in trials) == xs
    after = _complete(trials)
    assert {n: after[n] for n in before} == before, "a trial completed before the kill changed"
    lines = log_lines(log)
    for x in victims:
        # started on the dead worker, never ended there, and ran again to the end elsewhere
        assert ("end", float(x), 1) not in lines
        assert ("end", float(x), 2) in lines, lines
    assert len({x for what, x, _ in lines if what == "end"}) == len(xs)


def _start_held_loop(tmp_path: Path, *spark_args: str) -> tuple[Any, Path, Path, Path]:
    """Start ``sparktf tune`` of one ``checkpointed_loop`` trial of 4 epochs that waits after
    epoch 2 until ``go`` exists; returns (the driver process, its epoch log, go, the run)."""
    log, go, run = tmp_path / "epochs.log", tmp_path / "go", tmp_path / "run"
    space = write_space(
        tmp_path / "space.json",
        {"x": 1.0, "epochs": 4, "hold": 2, "log": str(log), "go": str(go)},
    )
    args = ["tune", "--objective", "tests.objectives:checkpointed_loop", "--space", str(space)]
    args += ["--trials", "1", "--pruner", "none", "--out", str(run), "--quiet", "--no-report"]
    return start_cli([*args, *spark_args], tmp_path / "tune-1.log"), log, go, run


def _wait_for_the_checkpoint_of_epoch_2(proc: Any, run: Path, tmp_path: Path) -> None:
    wait_for(
        "a checkpoint after epoch 2",
        lambda: list(run.glob("checkpoints/*/trial-0/step-000002-*/checkpoint.json")),
        proc=proc,
        log=tmp_path / "tune-1.log",
    )


def _continued_from_its_checkpoint(run: Path, log: Path, exactly: bool) -> None:
    """The one trial completed, continuing after epoch 2: each epoch trained and recorded once."""
    (t,) = study_trials(run)
    assert t.number == 0 and t.state.name == "COMPLETE" and t.value == 12.0
    resumed = t.user_attrs["resumed_from_epoch"]
    assert resumed == 2 if exactly else resumed >= 2
    assert t.intermediate_values == {1: 3.0, 2: 6.0, 3: 9.0, 4: 12.0}
    epochs = [line.split()[1] for line in log.read_text().splitlines()]
    assert epochs == ["1", "2", "3", "4"], "epochs trained again after the loss"


@classic_only  # --master of its own cluster (worker_loss[remote] loses a worker on Connect)
def test_a_lost_worker_s_trial_continues_from_its_checkpoint_on_the_other(
    cluster: ClusterInfo, tmp_path: Path
) -> None:
    """A spot loss: the worker running a trial dies (SIGKILL, with its executor and Python
    workers) after the trial's checkpoint of epoch 2; Spark runs the task again on the other
    worker, which continues from that checkpoint."""
    proc, log, go, run = _start_held_loop(tmp_path, "--master", cluster.master_url, *WAIT_FOR_BOTH)
    try:
        _wait_for_the_checkpoint_of_epoch_2(proc, run, tmp_path)
        pid = int(log.read_text().split()[-1])  # the Python worker training the trial
        index = next(i + 1 for i, w in enumerate(cluster.worker_pids) if pid in descendants(w))
        kill_worker(cluster, index)
        go.touch()
        rc = proc.wait(timeout=JOB_TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert rc == 0, tail(tmp_path / "tune-1.log")
    _continued_from_its_checkpoint(run, log, exactly=False)


def test_worker_loss_mid_prediction_keeps_every_row_once(
    cluster: ClusterInfo, tmp_path: Path
) -> None:
    images = write_pngs(tmp_path / "images", 300)
    model = save_gray_model(tmp_path / "gray.keras")
    out = tmp_path / "preds.parquet"
    args = [
        "predict",
        "--model",
        str(model),
        "--input",
        str(tmp_path / "images"),
        "--out",
        str(out),
        "--master",
        cluster.master_url,
        "--partitions",
        "12",
        "--batch-size",
        "8",
        "--no-progress",
    ]
    proc = start_cli(args, tmp_path / "predict.log")
    try:
        worker_1 = cluster.worker_pids[0]
        wait_for(
            "a prediction task on worker 1",
            lambda: _python_workers(worker_1) >= 2,
            every=0.05,
            proc=proc,
            log=tmp_path / "predict.log",
        )
        kill_worker(cluster, 1)
        assert proc.poll() is None and not out.exists(), "the job ended before the kill"
        rc = proc.wait(timeout=JOB_TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert rc == 0, tail(tmp_path / "predict.log")
    df = read_predictions(out)
    names = [Path(str(i)).name for i in df["id"]]
    assert len(names) == len(set(names)) == len(images), "rows lost or duplicated"
    assert set(names) == {p.name for p in images}
    assert df["error"].isna().all()


XS = [0, 1, 2, 3, 4, 5, 6, 7]  # the grid of the stopped studies below; each trial runs until
# the test opens its gate, so the moment to stop is a state of the study, not a duration


def _open_gates(gates: Path, xs: Any) -> None:
    gates.mkdir(exist_ok=True)
    for x in xs:
        (gates / repr(float(x))).touch()


def _stop_study(
    tmp_path: Path, sig: signal.Signals, spark_flags: list[str], sigint_ignored: bool = False
) -> tuple[Path, int]:
    """Start ``sparktf tune`` of the XS grid on local[2] (classic, or through the Connect
    pass's server); let the first two trials that start complete; once they are COMPLETE in
    the storage and two more trials have started (and wait at their gates), send ``sig`` to
    the whole process group (as a terminal's Ctrl-C does: the driver, its JVM and its Python
    workers). Returns the run directory and the exit code."""
    log, run, gates = tmp_path / "calls.log", tmp_path / "run", tmp_path / "gates"
    gates.mkdir()
    space = write_space(
        tmp_path / "space.json",
        {"x": {"type": "grid", "values": XS}, "gate": str(gates), "log": str(log)},
    )
    args = _tune_args(space, run, len(XS), *spark_flags)
    proc = start_cli(args, tmp_path / "tune-1.log", sigint_ignored=sigint_ignored)

    def two_done_and_two_running() -> bool:
        started = [x for what, x, _ in log_lines(log) if what == "start"]
        _open_gates(gates, started[:2])
        return len(_complete(study_trials(run))) >= 2 and len(started) >= 4

    try:
        wait_for(
            "two completed trials and two running",
            two_done_and_two_running,
            every=0.1,
            proc=proc,
            log=tmp_path / "tune-1.log",
        )
        os.killpg(proc.pid, sig)
        rc = proc.wait(timeout=90)
        if sig != signal.SIGKILL:
            wait_for("no process of the driver's group left", lambda: not _group_alive(proc.pid))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return run, rc


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _resume_completes(tmp_path: Path, run: Path, done: set[float]) -> tuple[list, list[float]]:
    """``--resume`` the stopped study: every grid point ends COMPLETE once (interrupted trials
    aside), and no trial completed before the stop runs again. Returns the trials and the
    objective's start lines."""
    _open_gates(tmp_path / "gates", XS)
    assert main(["tune", "--resume", str(run), "--quiet", "--no-report"]) == 0
    trials = study_trials(run)
    counted = [t for t in trials if not t.user_attrs.get("interrupted")]
    assert sorted(t.params["x"] for t in counted) == XS  # every grid point, once
    assert all(t.state.name == "COMPLETE" for t in counted)
    starts = [x for what, x, _ in log_lines(tmp_path / "calls.log") if what == "start"]
    for x in done:
        assert starts.count(float(x)) == 1, f"completed trial x={x} ran again"
    return trials, starts


def test_driver_loss_then_resume_continues_the_running_trials_under_their_numbers(
    tmp_path: Path, backend_flags: list[str]
) -> None:
    run, _ = _stop_study(tmp_path, signal.SIGKILL, backend_flags)  # driver, JVM, Python workers
    killed = study_trials(run)
    done = {t.params["x"] for t in killed if t.state.name == "COMPLETE"}
    cut = {t.number: t.params["x"] for t in killed if t.state.name == "RUNNING"}
    assert len(done) >= 2 and cut, [(t.number, t.state.name) for t in killed]

    trials, starts = _resume_completes(tmp_path, run, done)
    assert len(trials) == len(XS), "a lost driver's trials continue; none is added"
    assert not [t.number for t in trials if t.user_attrs.get("interrupted")]
    by_number = {t.number: t for t in trials}
    for number, x in cut.items():  # the same trial, with its parameters, completed by --resume
        assert by_number[number].state.name == "COMPLETE"
        assert by_number[number].params["x"] == x
    assert sorted(set(starts)) == [float(x) for x in XS]


@classic_only  # the driver's own process tree runs the trial (a Connect server outlives it)
def test_driver_loss_then_resume_continues_a_trial_from_its_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    proc, log, go, run = _start_held_loop(tmp_path, "--master", "local[1]")
    try:
        _wait_for_the_checkpoint_of_epoch_2(proc, run, tmp_path)
        # the driver and everything it started: PySpark's daemon forks its Python workers in a
        # process group of its own, which a cluster ends with the application (here, by hand)
        for pid in [proc.pid, *descendants(proc.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    go.touch()
    assert main(["tune", "--resume", str(run), "--no-report"]) == 0
    assert "1 trial(s) the stopped driver was running will continue" in capsys.readouterr().err
    _continued_from_its_checkpoint(run, log, exactly=True)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_cancels_running_trials_and_resume_completes_the_study(
    tmp_path: Path, backend_flags: list[str], sig: signal.Signals
) -> None:
    # With local[2], two trials run and two more wait in Spark's queue when the signal comes.
    # Ctrl-C reaches a driver started as a shell's background job is (SIGINT ignored), too.
    run, rc = _stop_study(tmp_path, sig, backend_flags, sigint_ignored=sig == signal.SIGINT)
    out = tail(tmp_path / "tune-1.log")
    assert rc == 128 + sig, out
    said = "Ctrl-C" if sig == signal.SIGINT else "SIGTERM"
    assert out.rstrip().endswith("interrupted" if sig == signal.SIGINT else "(SIGTERM)"), out
    assert "Traceback" not in out, out
    assert f"sparktf tune --resume {run}" in out, "Ctrl-C must say how to continue"
    stopped = study_trials(run)
    assert not [t.number for t in stopped if t.state.name == "RUNNING"], "storage left RUNNING"
    done = {t.params["x"] for t in stopped if t.state.name == "COMPLETE"}
    cut = [t for t in stopped if t.user_attrs.get("interrupted")]
    assert len(done) >= 2 and cut
    assert all(t.state.name == "FAIL" for t in cut)
    errors = [t.user_attrs["error"] for t in cut]
    # cut short by Ctrl-C, or asked ahead of a free slot and never started (where the job
    # runner keeps asked trials in the driver rather than queued in Spark: Connect, 3.5)
    assert any(said in e for e in errors), errors
    assert all(said in e or e.startswith("not started") for e in errors), errors
    lines = log_lines(tmp_path / "calls.log")
    started = [x for what, x, _ in lines if what == "start"]
    assert set(started) - {x for what, x, _ in lines if what == "end"}, "no trial cut short"
    _resume_completes(tmp_path, run, done)
