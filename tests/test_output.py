"""Output belongs to sparktf: real ``sparktf predict`` and ``sparktf tune`` runs (subprocesses,
stderr a pipe as in a log) print no line of TensorFlow, absl, Spark/log4j, the JVM, Optuna or
Python warnings; ``--verbose`` brings them back; ``--quiet`` prints only the result; progress off
a terminal is plain lines. Nothing here is mocked."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sparktf.console import PlainProgress, plain_line
from sparktf.trial import report
from tests.clusterutil import CLI, REPO
from tests.inference.conftest import build_gray_model, encode, photo

TIMEOUT = 300.0

# What other libraries print: TensorFlow/absl, oneDNN, the JVM and log4j, Java stack traces,
# Optuna's logging, Python warnings and tracebacks, and the executor's channel warning.
FOREIGN = re.compile(
    r"WARNING:|^[IWEF]\d{4} |oneDNN|cpu_feature_guard|rebuild TensorFlow|absl|log4j"
    r"|Using incubator|Setting default log level|To adjust logging level|Using Spark's"
    r"|\bWARN\b| ERROR |NativeCodeLoader|TaskContextImpl|^\s+at [\w$.]+\(|Exception in"
    r"|Warning:|UserWarning|DeprecationWarning|Traceback|BrokenPipeError|^\[[IWE] 20"
    r"|A new study created|optuna|cannot reach the driver"
)

# Spark's log4j output (its shell banner, WARN/ERROR lines) and Optuna's logging.
SPARK_AND_OPTUNA_LOGS = re.compile(
    r"Setting default log level|To adjust logging level|\bWARN\b| ERROR |log4j|NativeCodeLoader"
    r"|^\[[IWE] 20|A new study created|optuna",
    re.MULTILINE,
)


def slow_curve(params: dict[str, Any], data: Any) -> float:
    """Reports a step every 0.3 s for about 30 s: a driver that stops it meets it reporting."""
    for step in range(1, 100):
        report(step, 0.01 * step)
        time.sleep(0.3)
    return 1.0


def _env() -> dict[str, str]:
    drop = ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS", "SPARK_MASTER")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return _run_command([*CLI, *args])


def _run_command(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=REPO,
        env=_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _foreign(text: str) -> list[str]:
    return [line for line in text.splitlines() if FOREIGN.search(line)]


def _assert_plain(stderr: str) -> None:
    """No live display off a terminal: no carriage returns, no cursor moves, no bar."""
    assert "\r" not in stderr and "\x1b[" not in stderr, stderr
    assert not re.search(r"━+\s*\d+/\d+", stderr), stderr  # a rich bar printed as text


@pytest.fixture(scope="module")
def predict_args(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    d = tmp_path_factory.mktemp("output")
    model = d / "m.keras"
    build_gray_model().save(model)  # type: ignore[attr-defined]
    images = d / "images"
    images.mkdir()
    for i in range(3):
        (images / f"{i}.png").write_bytes(encode(photo(28, 28, seed=i)[:, :, 0], "PNG"))
    return ["predict", "--model", str(model), "--input", str(images), "--master", "local[1]"]


@pytest.mark.slow
def test_predict_prints_only_its_own_lines(predict_args: list[str]) -> None:
    res = _run(predict_args)
    assert res.returncode == 0, res.stderr
    assert not _foreign(res.stdout + res.stderr), res.stderr
    rows = [ln for ln in res.stdout.splitlines() if ln.startswith("file:")]
    assert len(rows) == 3, res.stdout
    _assert_plain(res.stderr)
    *progress, summary = res.stderr.splitlines()  # beside the rows, not among them
    assert summary.startswith("3 rows: 3 ok, 0 failed; "), res.stderr
    for line in progress:  # what remains is sparktf's plain progress line
        assert re.match(r"predict: \d+(/\d+)?, \d+:\d\d:\d\d elapsed", line), res.stderr


@pytest.mark.slow
def test_predict_quiet_prints_only_the_result(predict_args: list[str]) -> None:
    res = _run([*predict_args, "--quiet"])
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    lines = res.stdout.splitlines()  # the rows are the result: no summary among them
    assert len(lines) == 3 and all(ln.startswith("file:") for ln in lines), res.stdout


def _tune_args(tmp_path: Path, *extra: str) -> list[str]:
    space = tmp_path / "space.yaml"
    space.write_text("x: {type: uniform, low: 0, high: 1}\n")
    return [
        "tune",
        "--objective",
        "tests.test_output:slow_curve",
        "--space",
        str(space),
        "--metric",
        "value",
        "--direction",
        "maximize",
        "--pruner",
        "none",
        "--master",
        "local[2]",
        "--out",
        str(tmp_path / "run"),
        "--no-report",
        *extra,
    ]


@pytest.mark.slow
def test_verbose_before_the_command_shows_other_libraries(tmp_path: Path) -> None:
    args = _tune_args(tmp_path, "--trials", "1")
    args[args.index("tests.test_output:slow_curve")] = "tests.objectives:quadratic"
    res = _run(["--verbose", *args])
    assert res.returncode == 0, res.stderr
    assert re.search(r"^best: value = ", res.stdout, re.M), res.stdout
    foreign = _foreign(res.stderr)
    assert any(re.search("incubator|log4j|Setting default log level", ln) for ln in foreign), (
        res.stderr
    )


@pytest.mark.slow
def test_tune_timeout_prints_no_traceback_and_no_false_channel_warning(tmp_path: Path) -> None:
    # both trials report to the driver while --timeout cancels them and the channel closes
    res = _run(_tune_args(tmp_path, "--trials", "2", "--timeout", "6"))
    assert "--timeout was reached" in res.stderr, res.stderr
    assert not _foreign(res.stdout + res.stderr), res.stderr
    _assert_plain(res.stderr)
    assert re.search(r"^tune: \d+/2, \d+:\d\d:\d\d elapsed", res.stderr, re.M), res.stderr


# What the Python API cannot silence without touching the file descriptors of the user's
# process (README, "Output"): the JVM's own line, and the lines TensorFlow's libraries write as
# they load in the driver, before TensorFlow reads TF_CPP_MIN_LOG_LEVEL.
JVM_LINE = re.compile(r"Using incubator modules")


def _api_foreign(stderr: str) -> list[str]:
    """The foreign lines of a Python API program's stderr, less the JVM's own line."""
    return [ln for ln in _foreign(stderr) if not JVM_LINE.search(ln)]


DRIVER_TF_LINES = re.compile(
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|^I0000 [\d:.]+ +(\d+) port\.cc:\d+\] oneDNN custom operations are on"
)


@pytest.mark.slow
@pytest.mark.parametrize("spark", ["master='local[1]'", "remote='local[1]'"])
def test_python_api_tune_prints_no_foreign_lines(tmp_path: Path, spark: str) -> None:
    # The Python API leaves the process's stderr and Python warnings to the user's program, but
    # Spark's logging, Optuna's INFO lines and what TensorFlow prints in the Python workers are
    # sparktf's to silence. What the JVM prints itself (the incubator module line) stays: only
    # the CLI diverts file descriptor 2.
    script = (
        "import sparktf\n"
        "from tests import objectives\n"
        "sparktf.tune(objectives.tensorflow_square, {'x': sparktf.uniform(0, 1)}, trials=2,\n"
        f"    {spark}, out={str(tmp_path / 'run')!r}, write_report=False)\n"
    )
    proc = _run_command([sys.executable, "-c", script])
    assert proc.returncode == 0, proc.stderr
    foreign = _api_foreign(proc.stderr)
    assert not foreign, proc.stderr


@pytest.mark.slow
def test_python_api_predict_prints_only_the_driver_tensorflow_lines(
    predict_args: list[str],
) -> None:
    # predict checks the model in the driver: TensorFlow's libraries announce oneDNN there as
    # they load (absl's lines, before any setting is read; README); nothing else is foreign,
    # and nothing at all comes from the Python workers that predict.
    model = predict_args[predict_args.index("--model") + 1]
    images = predict_args[predict_args.index("--input") + 1]
    script = (
        "import os, sparktf\n"
        f"rows = sparktf.predict({images!r}, {model!r}, master='local[1]').collect()\n"
        "print(len(rows), os.getpid())\n"
    )
    proc = _run_command([sys.executable, "-c", script])
    assert proc.returncode == 0, proc.stderr
    count, pid = proc.stdout.split()
    assert count == "3"
    foreign = _api_foreign(proc.stderr)
    assert all(DRIVER_TF_LINES.search(ln) for ln in foreign), proc.stderr
    tf_pids = {m.group(1) for ln in foreign if (m := DRIVER_TF_LINES.search(ln)) and m.group(1)}
    assert tf_pids <= {pid}, proc.stderr  # the driver's, not a Python worker's


@pytest.mark.slow
@pytest.mark.parametrize(
    "flags",
    [["--master", "local[2]"], ["--remote", "local[1]"]],
    ids=["classic", "own-connect-server"],  # (--remote local[N]: a Connect server in-process)
)
def test_tune_ctrl_c_prints_no_traceback(tmp_path: Path, flags: list[str]) -> None:
    args = _tune_args(tmp_path, "--trials", "4")
    args[args.index("--master") : args.index("--master") + 2] = flags
    err = tmp_path / "stderr.txt"
    with open(err, "w") as fh:
        proc = subprocess.Popen(
            [*CLI, *args],
            cwd=REPO,
            env=_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=fh,
            start_new_session=True,  # Ctrl-C on a terminal reaches the whole process group
        )
    try:
        deadline = time.monotonic() + TIMEOUT
        while "tune: " not in err.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, err.read_text()
            time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)
        rc = proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = err.read_text()
    assert rc == 130, text
    assert text.rstrip().endswith("interrupted"), text
    assert not _foreign(text), text


def test_plain_progress_prints_changes_and_a_last_line() -> None:
    out = io.StringIO()
    # the display's own timer never fires here: print_changed() is what it calls every interval
    bar = PlainProgress(Console(file=out, width=200), interval=3600, heartbeat=3600)
    with bar:
        task = bar.add_task("tune", total=4, status="")
        assert out.getvalue() == ""  # adding the task prints nothing before its first state
        bar.print_changed()  # total known, nothing done: one line
        bar.update(task, completed=1, status="best 0.5")
        bar.print_changed()
        bar.print_changed()  # nothing changed: no line
        bar.update(task, completed=4, status="best 0.9")
    lines = out.getvalue().splitlines()
    assert [ln.split(",")[0] for ln in lines] == ["tune: 0/4", "tune: 1/4", "tune: 4/4"]
    assert lines[-1].endswith("; best 0.9") and "elapsed" in lines[-1]
    assert plain_line(bar.tasks[0]).startswith("tune: 4/4, ")
