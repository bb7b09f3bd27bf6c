"""The terminal: one rich Console on stderr, the output level, and the progress display.

Output belongs to sparktf. By default other libraries' logs (TensorFlow and absl, Spark and
log4j, Optuna, Python warnings) are silenced, in the driver and in the Python workers;
``--verbose`` shows them, ``--quiet`` leaves only the result (stdout) and errors. The CLI sets
the level once with :func:`configure_output`; commands and the tuning code ask
:func:`is_quiet` and :func:`is_verbose`.

Progress is a live bar on a terminal, and a plain line every few seconds (and at the end)
when stderr is a file or a pipe.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

console = Console(stderr=True, highlight=False)
# In a log or a pipe a long line stays one line, not wrapped at an assumed width of 80.
console.soft_wrap = not console.is_terminal

# Set in the executors' environment under --verbose: their Python workers then leave other
# libraries' logs alone (see ``silence_libraries``).
VERBOSE_ENV = "SPARKTF_VERBOSE"

# Environment that quiets other libraries in a process started after it is set (the
# executors' Python workers get it through ``spark.executorEnv.*``).
QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",  # TensorFlow's C++ INFO and WARNING lines
    "GRPC_VERBOSITY": "ERROR",
    "PYTHONWARNINGS": "ignore",
}
# Python loggers of other libraries shown only from ERROR on.
QUIET_LOGGERS = ("tensorflow", "absl", "keras", "h5py", "py4j", "matplotlib", "PIL")
# loggers that repeat, as errors, exceptions that sparktf handles (pyspark's Connect client)
SILENT_LOGGERS = ("DataFrameQueryContextLogger",)

PLAIN_INTERVAL = 5.0  # seconds between two plain progress lines, at most
PLAIN_HEARTBEAT = 30.0  # a plain line at least this often while a display runs


class _Level:
    verbose = False
    quiet = False


_level = _Level()
_diverted: int | None = None  # the file that receives file descriptor 2 (divert_native_stderr)


def configure_output(verbose: bool = False, quiet: bool = False) -> None:
    """Set the output level of this process (the CLI does it once, from its flags).

    Args:
        verbose: show other libraries' logs and warnings too (nothing is silenced).
        quiet: print only the result (stdout) and errors: no progress, no notes.

    Raises:
        ValueError: both ``verbose`` and ``quiet``.
    """
    if verbose and quiet:
        raise ValueError("verbose and quiet output exclude each other")
    _set_level(verbose, quiet)
    if not verbose:
        silence_libraries(worker=False)
        # A library's module-level logging.error() configures the root logger to print to
        # stderr when it has no handler (Py4J's "KeyboardInterrupt while sending command",
        # with a traceback, when Ctrl-C lands during a call to the JVM). The CLI's process
        # gives the root logger a handler that prints nothing.
        root = logging.getLogger()
        if not root.handlers:
            root.addHandler(logging.NullHandler())


@contextlib.contextmanager
def command_output(verbose: bool = False, quiet: bool = False) -> Iterator[None]:
    """:func:`configure_output` for one command; the level before it is back afterwards (a
    program or a test that calls :func:`sparktf.cli.main` goes on at its own level)."""
    before = (_level.verbose, _level.quiet)
    configure_output(verbose=verbose, quiet=quiet)
    try:
        yield
    finally:
        _set_level(*before)


def _set_level(verbose: bool, quiet: bool) -> None:
    """The output level as this process and its Spark workers read it."""
    _level.verbose, _level.quiet = verbose, quiet
    console.quiet = quiet
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
    else:
        os.environ.pop(VERBOSE_ENV, None)


def is_verbose() -> bool:
    """True under ``--verbose``: other libraries' logs are shown."""
    return _level.verbose


def is_quiet() -> bool:
    """True under ``--quiet``: only the result and errors are printed."""
    return _level.quiet


def executor_env(quiet: bool) -> dict[str, str]:
    """Environment for the executors' Python workers (the session puts it in
    ``spark.executorEnv.*``): ``QUIET_ENV`` when ``quiet``, else ``$SPARKTF_VERBOSE``."""
    return dict(QUIET_ENV) if quiet else {VERBOSE_ENV: "1"}


def silence_libraries(worker: bool = True) -> None:
    """Silence other libraries' logs in this process: TensorFlow's C++ logging (for a
    TensorFlow imported later), Python warnings, the Python loggers of TensorFlow, absl,
    Keras and Py4J, and Optuna's INFO lines. Idempotent.

    Args:
        worker: this is an executor's Python worker; it then does nothing under ``--verbose``
            (``$SPARKTF_VERBOSE`` set by the driver).
    """
    if worker and os.environ.get(VERBOSE_ENV):
        return
    quiet_tensorflow_environment()
    if worker:
        quiet_tensorflow_import()
        if _in_spark_task():
            quiet_worker_stderr()  # pyspark's daemon's traceback when Spark stops
    warnings.simplefilter("ignore")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for name in SILENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    quiet_optuna()


def quiet_tensorflow_environment() -> None:
    """Ask TensorFlow and gRPC, through their environment variables, to leave out their C++
    INFO and WARNING lines; only before TensorFlow's first import (later they are read no
    more), and only where this process has not set them itself."""
    if "tensorflow" in sys.modules:
        return
    for var in ("TF_CPP_MIN_LOG_LEVEL", "GRPC_VERBOSITY"):
        os.environ.setdefault(var, QUIET_ENV[var])


def quiet_python_api() -> None:
    """What the Python API (``sparktf.tune``, ``sparktf.predict``) silences in the user's
    process, unless verbose (:func:`configure_output`): Optuna's INFO lines, and TensorFlow's
    C++ start-up lines that its environment variables reach (set before sparktf first imports
    TensorFlow, unless the program set them). The process's file descriptors, its Python
    warnings and the levels of its other loggers are left to the program."""
    if _level.verbose:
        return
    quiet_tensorflow_environment()
    quiet_optuna()


def quiet_tensorflow_import() -> None:
    """In an executor's Python worker (never in the driver, the user's process): import
    TensorFlow, when something first imports it, with file descriptor 2 sent to a scratch
    file. TensorFlow 2.x writes absl's ``All log messages before absl::InitializeLog()`` and
    ``oneDNN custom operations are on`` lines as its libraries load, before it reads
    ``TF_CPP_MIN_LOG_LEVEL``; what the import wrote comes back on stderr if it fails."""
    if "tensorflow" in sys.modules or not _in_spark_task():
        return
    after_import("tensorflow", lambda module: None, around=_stderr_to_scratch)


def _in_spark_task() -> bool:
    """True in a Python worker that runs a Spark task (not in the driver)."""
    if "pyspark" not in sys.modules:
        return False
    from pyspark import TaskContext

    return TaskContext.get() is not None


@contextlib.contextmanager
def _stderr_to_scratch() -> Any:
    """File descriptor 2 goes to a scratch file inside the block; replayed on an error."""
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    saved = os.dup(2)
    scratch = tempfile.TemporaryFile()  # noqa: SIM115 (closed below)
    os.dup2(scratch.fileno(), 2)
    failed = True
    try:
        yield
        failed = False
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        if failed:
            scratch.seek(0)
            os.write(2, scratch.read()[-16384:])
        scratch.close()


def quiet_optuna() -> None:
    """Keep Optuna's INFO lines ("A new study created ...") out of the output, unless
    ``--verbose``: what the CLI's :func:`silence_libraries` does, for the Python API too (which
    leaves every other library's settings to the user's program)."""
    after_import("optuna", _quiet_optuna)


def _quiet_optuna(optuna: ModuleType) -> None:
    if not _level.verbose:  # the level may have changed since the hook was set
        optuna.logging.set_verbosity(optuna.logging.WARNING)


class _AfterImport(MetaPathFinder):
    """Finds nothing itself: hooks ``then`` onto the loading of one module (and runs the
    loading inside the context manager ``around`` when given)."""

    def __init__(
        self,
        name: str,
        then: Callable[[ModuleType], None],
        around: Callable[[], Any] = contextlib.nullcontext,
    ) -> None:
        self.name = name
        self.then = then
        self.around = around

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> ModuleSpec | None:
        if fullname != self.name:
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        loader = spec.loader if spec is not None else None
        if loader is None:
            return spec
        load = loader.exec_module
        then, around = self.then, self.around

        def exec_module(module: ModuleType) -> None:
            with around():
                load(module)
            then(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def after_import(
    name: str,
    then: Callable[[ModuleType], None],
    around: Callable[[], Any] = contextlib.nullcontext,
) -> None:
    """Call ``then(module)`` now if the module ``name`` is imported, else right after its first
    import (so that an expensive library is configured without importing it early); that
    import runs inside the context manager ``around``."""
    module = sys.modules.get(name)
    if module is not None:
        then(module)
        return
    if not any(isinstance(f, _AfterImport) and f.name == name for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(name, then, around))


def divert_native_stderr() -> bool:
    """Send what other code writes to file descriptor 2 into a hidden file, while Python's
    ``sys.stderr`` (sparktf's console, a real traceback) keeps the terminal.

    File descriptor 2 is where TensorFlow's C++ logging, the Spark JVM started later (log4j,
    the JVM's own warnings, Java stack traces) and, in local mode, the Python workers (whose
    stderr the JVM forwards) write. The file is unlinked at once: nothing is left behind;
    :func:`native_stderr_tail` reads it back (a Spark that fails to start). Does nothing when
    ``sys.stderr`` is not file descriptor 2 (a test harness captures it) or when already done.

    Returns:
        True when file descriptor 2 is now diverted.
    """
    global _diverted
    if _diverted is not None:
        return True
    try:
        if sys.stderr is None or sys.stderr.fileno() != 2:
            return False
        sys.stderr.flush()
        terminal = os.dup(2)
        sink, path = tempfile.mkstemp(prefix="sparktf-stderr-", suffix=".log")
    except (AttributeError, OSError, ValueError):
        return False
    os.unlink(path)
    sys.stderr = open(  # noqa: SIM115 (lives as long as the process)
        terminal,
        "w",
        buffering=1,
        encoding=sys.stderr.encoding,
        errors="backslashreplace",
    )
    os.dup2(sink, 2)
    _diverted = sink
    return True


def native_stderr_tail(lines: int = 20) -> str:
    """The last ``lines`` lines written to the diverted file descriptor 2 (empty if none)."""
    if _diverted is None:
        return ""
    try:
        size = os.fstat(_diverted).st_size
        data = os.pread(_diverted, 16384, max(0, size - 16384))
    except OSError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def print_always(message: str | Text) -> None:
    """Print ``message`` on stderr even under ``--quiet`` (errors, an interruption)."""
    quiet, console.quiet = console.quiet, False
    try:
        console.print(message, soft_wrap=True)
    finally:
        console.quiet = quiet


def print_whole(renderable: Any) -> None:
    """Print ``renderable`` (a table) on stderr; in a log or a pipe, which has no width of its
    own, at its natural width, so that no column is squeezed and no name cut (``dense_un…``)."""
    if console.is_terminal:
        console.print(renderable)
        return
    from rich.measure import Measurement

    wide = console.options.update_width(100_000)
    width = console.width
    console.width = max(width, Measurement.get(console, wide, renderable).maximum)
    try:
        console.print(renderable)
    finally:
        console.width = width


def print_error(message: str) -> None:
    """Print ``error: message`` on stderr, also under ``--quiet``."""
    print_always(Text.assemble(("error: ", "bold red"), message))


def progress(transient: bool = False) -> Progress:
    """A progress display: description, bar, done/total, elapsed and remaining time, and a
    ``status`` field. A live bar on a terminal; plain lines every few seconds otherwise;
    nothing under ``--quiet``."""
    if _level.quiet:
        return Progress(console=console, disable=True)
    if not console.is_terminal:
        return PlainProgress(console=console)
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeLeftColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=transient,
    )


def _clock(seconds: float | None) -> str:
    s = int(seconds or 0)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def time_left(task: Task) -> float | None:
    """Seconds left at the pace so far: the time since the task started over the steps done
    since then, times the steps left (None before the first step, without a total, at the end).
    A task's ``done_at_start`` field is what was done before it started (a resumed study's
    finished trials). Rich's own estimate divides by the time between the last few steps, so
    trials that end together (two parallel trials a second apart) turned hours into seconds."""
    if not task.total or task.finished or not task.elapsed:
        return None
    done = task.completed - task.fields.get("done_at_start", 0)
    if done <= 0:
        return None
    return task.elapsed * (task.total - task.completed) / done


class TimeLeftColumn(ProgressColumn):
    """The time left (:func:`time_left`), ``-:--:--`` while unknown."""

    def render(self, task: Task) -> Text:
        left = time_left(task)
        return Text("-:--:--" if left is None else _clock(left), style="progress.remaining")


def plain_line(task: Task) -> str:
    """One task of a progress display as a line of text."""
    done = f"{task.completed:g}" + (f"/{task.total:g}" if task.total is not None else "")
    parts = [f"{task.description}: {done}", f"{_clock(task.elapsed)} elapsed"]
    left = time_left(task)
    if left is not None:
        parts.append(f"{_clock(left)} left")
    status = str(task.fields.get("status") or "").strip()
    return ", ".join(parts) + (f"; {status}" if status else "")


class PlainProgress(Progress):
    """A progress display for logs and pipes: its tasks as plain lines, one when they have
    changed (at most every ``interval`` seconds), one at least every ``heartbeat`` seconds,
    and one at the end."""

    def __init__(
        self,
        console: Console,
        interval: float = PLAIN_INTERVAL,
        heartbeat: float = PLAIN_HEARTBEAT,
    ) -> None:
        super().__init__(console=console, disable=True)
        self.interval = interval
        self.heartbeat = heartbeat
        self._shown: dict[Any, str] = {}
        self._last = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sparktf-progress", daemon=True)

    def _state(self, task: Task) -> str:
        return f"{task.description} {task.completed} {task.total} {task.fields.get('status')}"

    def _emit(self) -> None:
        with self._lock:
            tasks = [t for t in self.tasks if t.visible]
        now = time.monotonic()
        due = now - self._last >= self.heartbeat
        for task in tasks:
            if not due and self._shown.get(task.id) == self._state(task):
                continue
            self._shown[task.id] = self._state(task)
            self._last = now
            self.console.print(plain_line(task), markup=False, highlight=False, soft_wrap=True)

    def print_changed(self) -> None:
        """Print a line for each task that changed since its last line (or every task, when
        the heartbeat is due); the display does this every ``interval`` seconds. (Not rich's
        ``refresh()``, which ``add_task`` calls: a line before the first update.)"""
        self._emit()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._emit()

    def start(self) -> None:
        """Start printing lines."""
        self._last = time.monotonic()
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()

    def stop(self) -> None:
        """Stop, after a last line for each task whose state was not printed yet."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with self._lock:
            tasks = [t for t in self.tasks if t.visible]
        for task in tasks:
            if self._shown.get(task.id) != self._state(task):
                self._shown[task.id] = self._state(task)
                self.console.print(plain_line(task), markup=False, highlight=False, soft_wrap=True)


# What pyspark's worker daemon prints when a reused Python worker cannot flush its socket
# because the JVM closed it (a stopping SparkContext closes its idle workers while it sends the
# daemon SIGTERM): with spark.python.daemon.killWorkerOnFlushFailure (pyspark 4) the
# BrokenPipeError escapes to the daemon's ``traceback.print_exc()``, else the daemon prints
# _FLUSH_FAILED and the traceback itself. The JVM copies both to the driver's stderr.
_TRACEBACK = "Traceback (most recent call last):"
_FLUSH_FAILED = "PySpark daemon failed to flush the output to the worker process:"
_CLOSED_SOCKET = ("BrokenPipeError", "ConnectionResetError")


def _daemon_noise(lines: list[str]) -> bool:
    """True for the daemon's traceback of a worker whose socket the JVM closed."""
    frames = [ln for ln in lines if ln.startswith('  File "')]
    return (
        bool(frames)
        and all("pyspark/daemon.py" in ln.replace("\\", "/") for ln in frames)
        and lines[-1].startswith(_CLOSED_SOCKET)
    )


class QuietWorkerStderr:
    """A Python worker's ``sys.stderr`` less pyspark's daemon's closed-socket traceback.

    Everything else passes through unchanged; a traceback is held from its first line to its
    exception line, then written (or, when it is that noise, dropped). A partial line goes
    out on ``flush()``, unless it is inside a traceback.
    """

    def __init__(self, out: Any) -> None:
        self._out = out
        self._partial = ""
        self._held: list[str] | None = None

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(line)
        return len(text)

    def _line(self, line: str) -> None:
        if self._held is None:
            if line in (_TRACEBACK, _FLUSH_FAILED):
                self._held = [line]
            else:
                self._out.write(line + "\n")
            return
        self._held.append(line)
        if line == _TRACEBACK or line.startswith((" ", "\t")):
            return  # the traceback goes on
        held, self._held = self._held, None
        if not _daemon_noise(held):
            self._out.write("\n".join(held) + "\n")

    def flush(self) -> None:
        if self._held is None and self._partial:
            self._out.write(self._partial)
            self._partial = ""
        self._out.flush()

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding, buffer, ...
        return getattr(self._out, name)


def quiet_worker_stderr() -> None:
    """In a Python worker: keep the daemon's closed-socket traceback (:class:`QuietWorkerStderr`)
    off the worker's stderr, which the JVM copies to the driver's. Idempotent."""
    if not isinstance(sys.stderr, QuietWorkerStderr) and sys.stderr is not None:
        sys.stderr = QuietWorkerStderr(sys.stderr)
