"""Helpers for the tests that run ``sparktf`` CLI drivers in subprocesses (cluster and fault tests).

The pytest process already holds the local[2] SparkContext of the shared ``spark`` fixture, and a
process can hold only one, so every other driver runs as ``python -m sparktf.cli`` in a
subprocess, with the repository as its working directory (``tests.objectives`` imports there;
the executors get the objectives by value through cloudpickle).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "sparktf.cli"]
# Generous: these machines are small and often busy.
JOB_TIMEOUT = 300.0


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.pop("SPARK_MASTER", None)
    return env


def _ignore_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_cli(
    args: Sequence[str], log: Path, sigint_ignored: bool = False
) -> subprocess.Popen[bytes]:
    """Start ``sparktf ARGS`` in its own process group, output to ``log``; with
    ``sigint_ignored``, as a shell starts a background job (SIGINT ignored from the start)."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [*CLI, *args],
            cwd=REPO,
            env=cli_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the driver loss test kills the whole group
            preexec_fn=_ignore_sigint if sigint_ignored else None,
        )


def run_cli(args: Sequence[str], log: Path, timeout: float = JOB_TIMEOUT) -> int:
    """Run ``sparktf ARGS`` to the end; return its exit code (the log is in ``log``)."""
    proc = start_cli(args, log)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()
        msg = f"sparktf {' '.join(args)} ran over {timeout}s:\n{tail(log)}"
        raise AssertionError(msg) from None


def tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no output)"


def wait_for(
    what: str,
    check: Callable[[], Any],
    timeout: float = JOB_TIMEOUT,
    every: float = 0.1,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> Any:
    """Poll ``check()`` until it returns something truthy; fail after ``timeout`` seconds, or
    as soon as ``proc`` (the driver being watched) has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(
                f"the driver exited ({proc.returncode}) while waiting for {what}:\n"
                + (tail(log) if log else "")
            )
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def write_space(path: Path, space: dict[str, Any]) -> Path:
    path.write_text(json.dumps(space))
    return path


def study_trials(run: Path) -> list[Any]:
    """The trials of the study in ``run`` (FrozenTrials; empty while there is no study yet)."""
    import sqlite3

    import optuna

    db = run / "study.db"
    if not db.is_file():
        return []
    # Opening it with Optuna while the driver is still creating the schema would race with
    # the driver's own CREATE TABLEs (and may fail the driver); look read-only first.
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            ready = con.execute(
                "select count(*) from studies where study_name = 'sparktf'"
            ).fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return []
    if not ready:
        return []
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name="sparktf", storage=f"sqlite:///{db}")
    except Exception:  # not created yet, or a write in progress
        return []
    return list(study.get_trials(deepcopy=True))


def log_lines(log: Path) -> list[tuple[str, float, int]]:
    """``(start|end, x, worker)`` lines written by ``tests.objectives.sleep_and_return``."""
    if not log.is_file():
        return []
    out = []
    for line in log.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            out.append((parts[0], float(parts[1]), int(parts[2])))
    return out


def write_pngs(directory: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` tiny 28x28 grayscale PNG files."""
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = directory / f"img-{i:04d}.png"
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8), mode="L").save(path)
        paths.append(path)
    return paths


def save_gray_model(path: Path) -> Path:
    """A tiny untrained Keras CNN for 28x28x1 inputs, saved to ``path``."""
    from tests.inference.conftest import build_gray_model

    build_gray_model().save(path)  # type: ignore[attr-defined]
    return path


def read_predictions(path: Path) -> Any:
    import pandas as pd

    return pd.read_parquet(path)
