"""Every use of pyspark's private API, in one place, guarded by version, with public fallbacks.

Classic sessions only (a Spark Connect session has no JVM in this process; its code paths use the
DataFrame API). What is here:

- ``submit_async`` / ``fetch_async``: submit an RDD's job without waiting (``_jrdd``,
  ``collectAsync``) and fetch its result through a local socket (``_load_from_socket``), so that
  a study's next trials can wait in Spark's own FIFO queue. pyspark 4.x only (the JVM helpers it
  calls are Scala 2.13's); elsewhere ``ASYNC_COLLECT`` is False and the dispatcher runs each
  trial with the public ``rdd.collect()``.
- ``registered_executors``: how many executors have registered (``_jsc``'s status tracker);
  ``None`` where that is not available.
- ``input_files``: ``df.inputFiles()`` in two Py4J calls (``_jvm``, ``_jdf``) instead of one per
  file; the public call on Connect or when the fast answer is ambiguous.
"""

from __future__ import annotations

from typing import Any

import pyspark

_VERSION = tuple(int(p) for p in pyspark.__version__.split(".")[:2] if p.isdigit())

#: Whether ``submit_async``/``fetch_async`` work with this pyspark (4.x: Scala 2.13 JVM helpers).
ASYNC_COLLECT = _VERSION >= (4, 0)


def prepare_rdd(rdd: Any) -> None:
    """Build ``rdd``'s Java RDD now, so that threads that share the RDD later do not race to."""
    _ = rdd._jrdd


def submit_async(rdd: Any) -> Any:
    """Submit ``rdd``'s collect job and return at once with the Java future (it has its place in
    Spark's queue when this returns)."""
    if not ASYNC_COLLECT:
        raise RuntimeError(f"asynchronous collect needs pyspark >= 4.0 (this is {_VERSION})")
    return rdd._jrdd.collectAsync()


def fetch_async(spark: Any, rdd: Any, job: Any, name: str) -> list[Any]:
    """The result of a job from :func:`submit_async`, once it ends, through a local socket (the
    way ``rdd.collect()`` brings it: Py4J would copy a model of tens of MB slowly)."""
    from pyspark.util import _load_from_socket

    jvm = spark.sparkContext._jvm
    items = jvm.scala.jdk.javaapi.CollectionConverters.asScala(job.get().iterator())
    sock_info = jvm.org.apache.spark.api.python.PythonRDD.serveIterator(items, name)
    with _load_from_socket(sock_info, rdd._jrdd_deserializer) as stream:
        return list(stream)


def quiet_accumulator_server(sc: Any) -> None:
    """Keep the driver's accumulator server from printing a traceback when the JVM goes away
    under it (a SIGTERM sent to the whole process group stops the JVM first): pyspark's
    server prints every broken connection to ``sys.stderr``. Fallback: nothing changes."""
    server = getattr(type(sc), "_accumulatorServer", None) or getattr(
        sc, "_accumulatorServer", None
    )
    if server is not None and hasattr(server, "handle_error"):
        server.handle_error = lambda request, client_address: None


def active_spark_context() -> Any:
    """This process's running SparkContext, or ``None`` (also under Spark Connect)."""
    from pyspark import SparkContext

    return getattr(SparkContext, "_active_spark_context", None)


def registered_executors(spark: Any) -> int | None:
    """Executors registered with a classic session's driver (not counting the driver), or
    ``None`` when this session cannot tell."""
    try:
        tracker = spark.sparkContext._jsc.sc().statusTracker()
        return len(tracker.getExecutorInfos()) - 1
    except Exception:  # a Connect session, or a JVM without this API
        return None


def input_files(df: Any) -> list[str]:
    """``df.inputFiles()``. On a classic session pyspark fetches the JVM's array one element per
    Py4J call (1.2-1.4 s for 10,000 files); its Scala text form is split instead, and the public
    way is used whenever that text is ambiguous (a path containing ", ") or on Connect."""
    try:
        jvm: Any = df.sparkSession._jvm
        files = df._jdf.inputFiles()
        text = str(jvm.scala.runtime.ScalaRunTime.stringOf(files))
        n = len(files)
    except Exception:  # a Connect session (no Py4J), or a JVM without these
        return list(df.inputFiles())
    if not (text.startswith("Array(") and text.endswith(")")):
        return list(df.inputFiles())
    inner = text[len("Array(") : -1]
    parts = inner.split(", ") if inner else []
    return parts if len(parts) == n else list(df.inputFiles())
