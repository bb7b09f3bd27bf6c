"""How the suite's JVMs start: the settings that spend less CPU on the many short-lived JVMs of
a test run (a Spark session per test process, CLI subprocesses, Connect servers, standalone
clusters' daemons and executors). They do not change what a test checks, only how fast a JVM
gets there; tests/conftest.py puts them in the environment that every JVM of the run inherits.

- The client JIT only and the serial collector: a JVM that lives for seconds gains nothing
  from the optimising compiler or a parallel collector (a third off the CPU of a driver).
- A class-data sharing (CDS) archive of the classes that a Spark driver loads, made once per
  Spark and Java installation (a Spark job of a few seconds, cached): a JVM maps them instead of
  loading and verifying about 10,000 classes from the jars. A local[2] driver's start took
  7.9 CPU-s without and 4.2 with it, a standalone master 2.8 / 1.7, a worker 2.4 / 1.6, an
  executor 4.0 / 2.5. A JVM whose class path differs (another Spark) or a missing archive runs
  as without it, silently.

CDS refuses a class path with a non-empty directory in it, so no ``$SPARK_CONF_DIR`` here: the
executors' options and ``spark.ui.enabled=false`` reach every driver as ``-Dspark.*`` system
properties of ``$SPARK_SUBMIT_OPTS`` (Spark reads those as configuration defaults).

Every JVM of the run also takes ``java.io.tmpdir`` (and so Spark's default ``spark.local.dir``)
in one directory of the run, removed when the run ends: the JVMs that the tests kill on purpose
(lost workers and drivers, stopped CLIs) cannot remove their ``spark-*``, ``blockmgr-*``,
``artifacts-*`` and ``liblz4-java-*`` files themselves, and left about 80 of them in /tmp.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from sparktf.connect import spark_home
from sparktf.errors import JavaNotFoundError
from sparktf.spark import find_java

FAST_START = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"

# What the archive's run loads: a session, a shuffle, a Python UDF over Arrow, Parquet both ways.
_WARM_UP = """
import sys
from pyspark.sql import SparkSession, functions as F
spark = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false").getOrCreate()
df = spark.range(100).repartition(2)
df.mapInPandas(lambda it: it, df.schema).groupBy((F.col("id") % 3).alias("k")).count().collect()
spark.range(3).write.mode("overwrite").parquet(sys.argv[1])
spark.read.parquet(sys.argv[1]).collect()
spark.stop()
"""


def _spark_home() -> Path:
    return Path(os.environ.get("SPARK_HOME") or spark_home())


def _java() -> Path | None:
    """The java binary that the run's Spark uses (sparktf's own search)."""
    try:
        return (find_java().home / "bin" / "java").resolve()
    except JavaNotFoundError:
        return None


def archive_path(cache: Path) -> Path | None:
    """Where the archive of this Spark and this Java lives (None without Java)."""
    java = _java()
    if java is None:
        return None
    jars = _spark_home() / "jars"
    key = "\n".join([str(java), str(java.stat().st_mtime), str(jars), *sorted(os.listdir(jars))])
    return cache / f"spark-cds-{hashlib.sha256(key.encode()).hexdigest()[:16]}.jsa"


def make_archive(path: Path) -> bool:
    """Dump the archive with one short Spark job (``spark-submit``: the driver exits on its own
    when the job ends, which is when the JVM writes it); False if it could not be made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="making-", dir=path.parent) as tmp:
        script, partial = Path(tmp) / "warm_up.py", Path(tmp) / "spark.jsa"
        script.write_text(_WARM_UP)
        env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
        env["SPARK_SUBMIT_OPTS"] = f"{FAST_START} -XX:ArchiveClassesAtExit={partial}"
        env.pop("SPARK_CONF_DIR", None)
        submit = _spark_home() / "bin" / "spark-submit"
        cmd = [str(submit), "--master", "local[2]", str(script), str(Path(tmp) / "t.parquet")]
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, timeout=300, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return False
        if done.returncode != 0 or not partial.is_file():
            return False
        os.replace(partial, path)
    return True


def java_options(cache: Path, make: bool) -> str:
    """The options of every JVM of the run; the archive is made first when ``make`` (the one
    process that starts the others) and it does not exist yet."""
    path = archive_path(cache)
    if path is not None and make and not path.is_file():
        make_archive(path)
    return FAST_START + (f" -XX:SharedArchiveFile={path}" if path and path.is_file() else "")


def set_environment(cache: Path, make: bool, tmp: Path) -> None:
    """Put the options where the run's JVMs read them (unless the caller set its own); ``tmp``
    is the JVMs' temporary directory."""
    options = f"{java_options(cache, make)} -Djava.io.tmpdir={tmp}"
    os.environ.setdefault("SPARK_DAEMON_JAVA_OPTS", options)
    drivers = f'{options} -Dspark.ui.enabled=false -Dspark.executor.defaultJavaOptions="{options}"'
    os.environ.setdefault("SPARK_SUBMIT_OPTS", drivers)
