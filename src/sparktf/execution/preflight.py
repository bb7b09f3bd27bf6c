"""The preflight: one small Spark job that checks what the executors need, before any trial.

A cluster whose executors cannot import sparktf (or TensorFlow, or reach the driver, or write
the checkpoint store) would otherwise fail every trial, each time with Spark's wrapper text.
The probe is a plain Python UDF (no Arrow) whose code travels by value, so it runs on an
executor that has nothing but pyspark's own files; it answers one JSON line per task, and the
driver turns the answers into one table of checks, each with its fix.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sparktf.errors import ConfigError
from sparktf.signals import raise_if_stopped

# The probe's source: compiled in a namespace of its own, so that cloudpickle ships the
# function by value (an executor without sparktf can still run it). Standard library only.
_PROBE = """
def make_probe(config):
    def probe(_):
        import importlib.util, json, os, platform, socket, sys, uuid
        out = {"host": socket.gethostname(), "python": platform.python_version(),
               "executable": sys.executable, "modules": {}, "versions": {}}
        for name in config["modules"]:
            try:
                out["modules"][name] = importlib.util.find_spec(name) is not None
            except Exception:
                out["modules"][name] = False
        try:
            from importlib import metadata
            out["versions"]["sparktf"] = metadata.version("sparktf")
        except Exception:
            out["versions"]["sparktf"] = None
        if config.get("gpus"):
            try:
                from pyspark import TaskContext
                res = TaskContext.get().resources().get("gpu")
                out["gpus"] = list(res.addresses) if res is not None else []
            except Exception as exc:
                out["gpus"] = []
        channel = config.get("channel")
        if channel:
            try:
                socket.create_connection((channel[0], channel[1]), timeout=3).close()
                out["channel"] = None
            except OSError as exc:
                out["channel"] = f"{type(exc).__name__}: {exc}"
        store = config.get("store")
        if store:
            out["store"] = _write_probe(store)
        return json.dumps(out)

    def _write_probe(root):
        import os, uuid
        name = ".sparktf-probe-" + uuid.uuid4().hex[:8]
        try:
            if "://" not in root or root.startswith("file://"):
                path = root[len("file://"):] if root.startswith("file://") else root
                os.makedirs(path, exist_ok=True)
                with open(os.path.join(path, name), "wb") as fh:
                    fh.write(b"ok")
                os.remove(os.path.join(path, name))
                return None
            import pyarrow.fs as pafs
            fs, path = pafs.FileSystem.from_uri(root)
            fs.create_dir(path, recursive=True)
            with fs.open_output_stream(path.rstrip("/") + "/" + name) as out:
                out.write(b"ok")
            fs.delete_file(path.rstrip("/") + "/" + name)
            return None
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"

    return probe
"""


CHANNEL_CHECK = "report channel"


class Check(str, Enum):
    """How one check came out."""

    OK = "ok"
    WARN = "warning"
    FAIL = "failed"


@dataclass(frozen=True)
class CheckRow:
    """One row of the preflight's table."""

    name: str
    state: Check
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Needs:
    """What the work about to run needs of the executors.

    Attributes:
        tensorflow: it trains or applies Keras/TensorFlow models.
        gpus: its tasks ask for GPUs.
        channel: the report channel's (host, port), when trials report to it.
        store: the checkpoint store's root, when trials save checkpoints.
    """

    tensorflow: bool = True
    gpus: bool = False
    channel: tuple[str, int] | None = None
    store: str | None = None


@dataclass(frozen=True)
class Preflight:
    """The preflight's answer."""

    rows: tuple[CheckRow, ...]
    hosts: tuple[str, ...] = ()
    seconds: float = 0.0
    by: str = ""  # what ran the probe, where not a probe job of its own

    @property
    def failed(self) -> list[CheckRow]:
        """The checks that must pass before any work runs."""
        return [r for r in self.rows if r.state is Check.FAIL]

    @property
    def channel_reachable(self) -> bool | None:
        """Whether every executor reached the report channel (None: not checked)."""
        rows = [r for r in self.rows if r.name == CHANNEL_CHECK]
        return rows[0].state is Check.OK if rows else None

    @property
    def warnings(self) -> list[CheckRow]:
        """The checks that only warn."""
        return [r for r in self.rows if r.state is Check.WARN]

    def table(self) -> str:
        """The checks as a plain-text table: check, result, detail, fix."""
        width = max(len(r.name) for r in self.rows) if self.rows else 5
        by = f" by {self.by}" if self.by else ""
        hosts = ", ".join(self.hosts) or "?"
        lines = [f"executors checked{by}: {hosts} ({self.seconds:.1f} s)"]
        for r in self.rows:
            mark = {Check.OK: "ok  ", Check.WARN: "warn", Check.FAIL: "FAIL"}[r.state]
            lines.append(f"  {mark}  {r.name:<{width}}  {r.detail}")
            if r.fix and r.state is not Check.OK:
                lines.append(f"        {'':<{width}}  fix: {r.fix}")
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        """Raise :class:`ConfigError` with the table when a check failed."""
        if self.failed:
            names = ", ".join(r.name for r in self.failed)
            raise ConfigError(f"the executors are not ready ({names}):\n{self.table()}")


def host_port(url: str) -> tuple[str, int]:
    """The (host, port) of the report channel's URL."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.hostname or "", int(parts.port or 80)


def probe_config(needs: Needs) -> dict[str, Any]:
    """What the probe checks on an executor, for ``needs`` (JSON)."""
    modules = ["sparktf", "pyarrow", "numpy"]
    modules += ["tensorflow", "keras"] if needs.tensorflow else []
    return {
        "modules": modules,
        "gpus": needs.gpus,
        "channel": list(needs.channel) if needs.channel else None,
        "store": needs.store,
    }


def probe_function(config: dict[str, Any]) -> Any:
    """The probe of ``config``: called with anything, it answers one JSON line (in a Spark
    task: the checks of the executor it runs on)."""
    namespace: dict[str, Any] = {"__name__": "sparktf_preflight_probe"}
    exec(compile(_PROBE, "<sparktf preflight>", "exec"), namespace)
    return namespace["make_probe"](config)


def run_preflight(spark: Any, needs: Needs, tasks: int) -> Preflight:
    """Run the probe as one Spark job of ``tasks`` tasks and check its answers.

    Never raises for what it finds: a probe job that cannot run at all is one failed check.

    Raises:
        KeyboardInterrupt: a stop signal arrived while the probe ran (it may be what made
            the probe job fail).
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    n = max(1, tasks)
    probe = F.udf(probe_function(probe_config(needs)), StringType(), useArrow=False)
    t0 = time.perf_counter()
    try:
        rows = spark.range(0, n, 1, n).select(probe("id").alias("r")).collect()
    except Exception as exc:
        from sparktf.search.record import error_line

        line = error_line(str(exc)) or type(exc).__name__
        row = CheckRow(
            "Python tasks run",
            Check.FAIL,
            f"a plain Python task failed on the executors: {line}",
            "check the executors' Python (PYSPARK_PYTHON / spark.pyspark.python) and that it "
            "is the Python minor version of the driver",
        )
        raise_if_stopped()
        return Preflight((row,), seconds=time.perf_counter() - t0)
    raise_if_stopped()
    answers = [json.loads(r["r"]) for r in rows]
    return preflight_of(answers, needs, time.perf_counter() - t0)


def preflight_of(
    answers: Sequence[dict[str, Any]], needs: Needs, seconds: float, by: str = ""
) -> Preflight:
    """The preflight of the probes' ``answers`` (one per task; ``by``: what ran them, where
    not a probe job of its own)."""
    return Preflight(
        tuple(evaluate(answers, needs)),
        hosts=tuple(sorted({a["host"] for a in answers})),
        seconds=seconds,
        by=by,
    )


def evaluate(answers: Sequence[dict[str, Any]], needs: Needs) -> list[CheckRow]:
    """The table's rows from the probes' answers (one per task)."""
    from sparktf.version import __version__

    pip = _pip_hint(answers)
    rows = [_sparktf_row(answers, __version__, pip), _python_row(answers)]
    if needs.tensorflow:
        rows.append(_module_row(answers, ("tensorflow", "keras"), f"{pip} tensorflow keras"))
    rows.append(_module_row(answers, ("pyarrow", "numpy"), f"{pip} pyarrow numpy"))
    if needs.gpus:
        rows.append(_gpu_row(answers))
    if needs.channel is not None:
        rows.append(_channel_row(answers, needs.channel))
    if needs.store is not None:
        rows.append(_store_row(answers, needs.store))
    return rows


def _pip_hint(answers: Sequence[dict[str, Any]]) -> str:
    exe = answers[0]["executable"] if answers else "python"
    return f"{exe} -m pip install"


def _where(bad: Sequence[dict[str, Any]], answers: Sequence[dict[str, Any]]) -> str:
    if len(bad) == len(answers):
        return "on every executor"
    return "on " + ", ".join(sorted({a["host"] for a in bad}))


def _sparktf_row(answers: Sequence[dict[str, Any]], version: str, pip: str) -> CheckRow:
    missing = [a for a in answers if not a["modules"].get("sparktf")]
    if missing:
        return CheckRow(
            "sparktf",
            Check.FAIL,
            f"ModuleNotFoundError: No module named 'sparktf' {_where(missing, answers)}",
            f"{pip} sparktf=={version} (the driver's version) on every executor",
        )
    known = {a["versions"].get("sparktf") for a in answers} - {None}
    other = sorted(known - {version})  # (None: importable from a path, not installed)
    if other:
        return CheckRow(
            "sparktf",
            Check.FAIL,
            f"executors have sparktf {', '.join(other)}, the driver {version}",
            f"{pip} sparktf=={version} on every executor",
        )
    return CheckRow("sparktf", Check.OK, f"{version} on every executor")


def _python_row(answers: Sequence[dict[str, Any]]) -> CheckRow:
    mine = ".".join(platform.python_version_tuple()[:2])
    theirs = sorted({".".join(a["python"].split(".")[:2]) for a in answers})
    if theirs != [mine]:
        return CheckRow(
            "Python version",
            Check.FAIL,
            f"executors run Python {', '.join(theirs)}, the driver {mine}",
            f"point PYSPARK_PYTHON (spark.pyspark.python) at a Python {mine} on the executors",
        )
    return CheckRow("Python version", Check.OK, f"{mine} on driver and executors")


def _module_row(answers: Sequence[dict[str, Any]], names: Sequence[str], fix: str) -> CheckRow:
    title = " / ".join(names)
    for name in names:
        bad = [a for a in answers if not a["modules"].get(name)]
        if bad:
            return CheckRow(
                title,
                Check.FAIL,
                f"ModuleNotFoundError: No module named '{name}' {_where(bad, answers)}",
                f"{fix} on every executor",
            )
    return CheckRow(title, Check.OK, "importable")


def _gpu_row(answers: Sequence[dict[str, Any]]) -> CheckRow:
    bad = [a for a in answers if not a.get("gpus")]
    if bad:
        return CheckRow(
            "GPUs",
            Check.FAIL,
            f"tasks ask for GPUs but none was assigned {_where(bad, answers)}",
            "give the executors GPUs (spark.executor.resource.gpu.amount and a discovery "
            "script), or drop spark.task.resource.gpu.amount",
        )
    return CheckRow("GPUs", Check.OK, "assigned to every task")


def _channel_row(answers: Sequence[dict[str, Any]], channel: tuple[str, int]) -> CheckRow:
    bad = [a for a in answers if a.get("channel")]
    if bad:
        return CheckRow(
            CHANNEL_CHECK,
            Check.WARN,
            f"{channel[0]}:{channel[1]} unreachable {_where(bad, answers)} "
            f"({bad[0]['channel']}): trials there train to the end, unpruned",
            "--channel-address HOST:PORT (an address of the driver the executors reach), "
            "or --no-channel",
        )
    return CheckRow(CHANNEL_CHECK, Check.OK, f"{channel[0]}:{channel[1]} reachable")


def _store_row(answers: Sequence[dict[str, Any]], store: str) -> CheckRow:
    bad = [a for a in answers if a.get("store")]
    if bad:
        return CheckRow(
            "checkpoint store",
            Check.FAIL,
            f"{store} not writable {_where(bad, answers)}: {bad[0]['store']}",
            "--checkpoint-dir URL that every executor can write (hdfs://, s3://, gs://, a "
            "shared folder), or --no-checkpoints",
        )
    return CheckRow("checkpoint store", Check.OK, f"{store} writable")
