"""The Python workers' stderr: pyspark's daemon's closed-socket traceback is dropped, and
nothing else is."""

from __future__ import annotations

import io
import traceback
from pathlib import Path
from typing import Any

from sparktf.console import QuietWorkerStderr

DAEMON = "/venv/lib/python3.11/site-packages/pyspark/python/lib/pyspark.zip/pyspark/daemon.py"


def _print_traceback(out: QuietWorkerStderr, error: str, filename: str) -> None:
    """Raise ``error`` in code that runs as ``filename`` and print its traceback to ``out`` the
    way pyspark's daemon does (``traceback.print_exc()`` in its fork loop, chunk by chunk)."""
    code = (
        "def manager(out):\n"
        "    try:\n"
        "        worker()\n"
        "    except BaseException:\n"
        "        traceback.print_exc(file=out)\n"
        "def worker():\n"
        f"    raise {error}\n"
    )
    scope = {"traceback": traceback}
    exec(compile(code, filename, "exec"), scope)
    scope["manager"](out)


def test_the_daemon_s_closed_socket_traceback_is_dropped_and_the_lines_around_it_kept() -> None:
    sink = io.StringIO()
    out = QuietWorkerStderr(sink)
    out.write("before\n")
    _print_traceback(out, "BrokenPipeError(32, 'Broken pipe')", DAEMON)
    print("PySpark daemon failed to flush the output to the worker process:", file=out)
    _print_traceback(out, "ConnectionResetError(104, 'reset')", DAEMON)
    out.write("after")
    out.flush()
    assert sink.getvalue() == "before\nafter"


def test_every_other_traceback_and_partial_line_passes_through() -> None:
    sink = io.StringIO()
    out = QuietWorkerStderr(sink)
    _print_traceback(out, "BrokenPipeError(32, 'Broken pipe')", "/home/me/objective.py")
    _print_traceback(out, "ValueError('bad')", DAEMON)
    out.write("progress 1/2")
    out.flush()
    text = sink.getvalue()
    assert text.count("Traceback (most recent call last):") == 2, text
    assert "objective.py" in text and "BrokenPipeError" in text and "ValueError: bad" in text
    assert text.endswith("\nprogress 1/2")
    assert out.encoding == sink.encoding  # the rest of the stream's interface is the stream's


def test_a_trial_s_python_worker_writes_through_the_filter(spark: Any, tmp_path: Path) -> None:
    import sparktf
    from tests import objectives

    res = sparktf.tune(
        objectives.stderr_is_quiet,
        {"x": sparktf.uniform(0, 1)},
        trials=1,
        spark=spark,
        out=tmp_path / "run",
        show_progress=False,
        write_report=False,
    )
    assert (res.trials["state"] == "COMPLETE").all(), res.trials["error"].tolist()
