"""What to start: the specification of a cluster, checked on construction."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sparktf.cluster.state import state_path
from sparktf.errors import ConfigError

_MEMORY_RE = re.compile(r"^([1-9]\d*)([mgt])b?$", re.IGNORECASE)
_MIN_MEMORY_MB = 512


@dataclass(frozen=True)
class ClusterSpec:
    """A Spark standalone cluster to start (one master, ``workers`` workers) on 127.0.0.1.

    Attributes:
        workers: number of worker processes.
        cores: cores each worker offers.
        memory: memory each worker offers (``2g``, kept normalised); each executor takes
            ``spark.executor.memory`` (1g by default) of it.
        state_dir: where pid files, logs and work directories go; default
            :func:`~sparktf.cluster.state.default_state_dir`.
        gpus: GPUs each worker offers (``spark.worker.resource.gpu.amount``).
        gpu_discovery_script: the script that lists them (kept as an absolute path); default:
            one per worker that gives worker i the GPUs ``(i-1)*gpus ... i*gpus-1`` of
            ``nvidia-smi``.
        timeout: seconds to wait for the master to list every worker ALIVE (and for the
            Connect server to listen).
        connect: also start a Spark Connect server on the cluster (``connect_url``).

    Raises:
        ConfigError: bad counts, memory or script.
    """

    workers: int = 2
    cores: int = 1
    memory: str = "2g"
    state_dir: str | Path | None = None
    gpus: int = 0
    gpu_discovery_script: str | None = None
    timeout: float = 90.0
    connect: bool = False

    def __post_init__(self) -> None:
        _check_counts(self.workers, self.cores, self.gpus)
        object.__setattr__(self, "memory", parse_memory(self.memory))
        if self.gpu_discovery_script is not None:
            if self.gpus == 0:
                raise ConfigError(
                    "a GPU discovery script was given with gpus=0; also pass --gpus N"
                )
            object.__setattr__(
                self, "gpu_discovery_script", _check_script(self.gpu_discovery_script)
            )

    @property
    def directory(self) -> Path:
        """The state directory (absolute)."""
        return state_path(self.state_dir)

    @classmethod
    def of(cls, spec: ClusterSpec | None, settings: Mapping[str, Any]) -> ClusterSpec:
        """``spec`` with ``settings`` (its field names) changed, or a new one of ``settings``.

        Raises:
            ConfigError: a bad value.
            TypeError: a name that is not a field.
        """
        return replace(spec, **settings) if spec is not None else cls(**settings)


def parse_memory(memory: str) -> str:
    """Check a worker memory size and return it normalised (``"2G"`` -> ``"2g"``).

    Args:
        memory: a size with a unit: ``512m``, ``2g``, ``1t`` (``mb``/``gb``/``tb`` also work).

    Returns:
        The size as Spark writes it, e.g. ``2g``.

    Raises:
        ConfigError: not a size with a unit, or less than 512m (an executor needs ~450 MiB).
    """
    m = _MEMORY_RE.match(str(memory).strip())
    if not m:
        raise ConfigError(
            f"invalid worker memory {memory!r}: expected a number with a unit m, g or t, "
            "such as 512m, 2g or 1t (e.g. --memory 2g)"
        )
    amount, unit = int(m.group(1)), m.group(2).lower()
    mb = amount * {"m": 1, "g": 1024, "t": 1024 * 1024}[unit]
    if mb < _MIN_MEMORY_MB:
        raise ConfigError(
            f"worker memory {memory!r} is too small: a Spark executor needs at least "
            f"{_MIN_MEMORY_MB}m (e.g. --memory 2g)"
        )
    return f"{amount}{unit}"


def _check_counts(workers: int, cores: int, gpus: int) -> None:
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"the number of workers must be at least 1, got {workers!r}")
    if not isinstance(cores, int) or cores < 1:
        raise ConfigError(f"the cores per worker must be at least 1, got {cores!r}")
    if not isinstance(gpus, int) or gpus < 0:
        raise ConfigError(f"the GPUs per worker must be 0 or more, got {gpus!r}")


def _check_script(script: str) -> str:
    path = Path(script).expanduser().resolve()
    if not path.is_file() or not os.access(path, os.X_OK):
        raise ConfigError(
            f"GPU discovery script {script!r} is not an executable file; it must print "
            '{"name": "gpu", "addresses": ["0", "1"]} (chmod +x it)'
        )
    return str(path)
