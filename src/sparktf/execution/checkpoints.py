"""The checkpoint store: a trial's latest checkpoint, on any filesystem ``pyarrow.fs`` reaches.

Layout under the store's root (a local path, ``file://``, ``hdfs://``, ``s3://``, ``gs://``,
``abfss://``)::

    ROOT/<study>/trial-<N>/step-<000004>-<token>/   one checkpoint: its files, then
                                       checkpoint.json   written last: the commit marker

A checkpoint without its ``checkpoint.json`` (a writer died half-way) is not a checkpoint: it is
ignored and removed by the next write. Only the newest complete checkpoint of a trial is kept;
a finished trial's directory is removed. A checkpoint is data, never code: arrays are ``.npz``
files read without pickle, metadata is JSON, and each is checked against the trial it claims to
belong to before it is used. Runs on the executors (and the driver, to clean up): only pyarrow
and numpy, no Spark.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparktf.trial.context import Checkpoint

if TYPE_CHECKING:
    import numpy as np
    import pyarrow.fs

MARKER = "checkpoint.json"
ARRAYS = "arrays.npz"
FORMAT = 1


@dataclass(frozen=True)
class CheckpointPlace:
    """Where the checkpoints of one study live (travels with each trial to the executors).

    Attributes:
        root: the store's URL or local path.
        study: the study's folder under it (its name).
        every: write a checkpoint every this many epochs (Keras trials).
    """

    root: str
    study: str
    every: int = 1

    def for_trial(self, number: int, params: Mapping[str, Any]) -> TrialCheckpoints:
        """The checkpoints of trial ``number`` (run with ``params``)."""
        return TrialCheckpoints(self, number, dict(params))


def filesystem(url: str) -> tuple[pyarrow.fs.FileSystem, str]:
    """The ``pyarrow.fs`` filesystem of ``url`` and the path inside it (a plain path is local).

    Raises:
        ValueError: pyarrow does not know the URL's scheme.
    """
    import pyarrow.fs as pafs

    if "://" not in url:
        return pafs.LocalFileSystem(), os.path.abspath(url)
    fs, path = pafs.FileSystem.from_uri(url)
    return fs, path.rstrip("/") or "/"


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


class TrialCheckpoints:
    """The checkpoints of one trial: save the newest, find it, remove them all (the
    :class:`~sparktf.trial.context.CheckpointStore` a trial keeps its state in)."""

    def __init__(self, place: CheckpointPlace, number: int, params: dict[str, Any]) -> None:
        self.place, self.number, self.params = place, number, params
        self.fs, root = filesystem(place.root)
        self.dir = f"{root}/{place.study}/trial-{number}"

    # -- writing -------------------------------------------------------------------------------

    def save(
        self,
        step: int,
        arrays: Mapping[str, np.ndarray] | None = None,
        meta: Mapping[str, Any] | None = None,
        directory: str | Path | None = None,
    ) -> str:
        """Save a checkpoint after ``step`` and remove the older ones; returns its path.

        The files go first, the marker last: a reader sees the whole checkpoint or none.
        """
        import numpy as np

        arrays = {k: np.asarray(v) for k, v in (arrays or {}).items()}
        for name, value in arrays.items():
            if value.dtype.hasobject:
                raise TypeError(
                    f"checkpoint array {name!r} holds Python objects; a checkpoint keeps data "
                    "only: numbers, booleans, strings (save objects in a folder of files)"
                )
        ckpt = f"{self.dir}/step-{int(step):06d}-{uuid.uuid4().hex[:8]}"
        self.fs.create_dir(ckpt, recursive=True)
        if arrays:  # straight into the store's stream (zip needs no seeking)
            with self.fs.open_output_stream(f"{ckpt}/{ARRAYS}") as out:
                np.savez(out, **arrays)  # type: ignore[arg-type]
        files = self._save_directory(ckpt, Path(directory)) if directory is not None else []
        marker = {
            "format": FORMAT,
            "trial": self.number,
            "study": self.place.study,
            "params": self.params,
            "step": int(step),
            "arrays": sorted(arrays or {}),
            "files": files,
            "meta": dict(meta or {}),
        }
        text = json.dumps(marker, sort_keys=True, default=_json_default)
        # the marker appears whole or not at all: written aside, then moved into place (a
        # worker killed while writing it leaves no marker, and the older checkpoint stands)
        partial = f"{ckpt}/{MARKER}.partial"
        self._write(partial, text.encode("utf-8"))
        self.fs.move(partial, f"{ckpt}/{MARKER}")
        self._remove_all_but(ckpt)
        return ckpt

    def _save_directory(self, ckpt: str, directory: Path) -> list[str]:
        files = sorted(p for p in directory.rglob("*") if p.is_file())
        names = [p.relative_to(directory).as_posix() for p in files]
        for p, name in zip(files, names, strict=True):
            parent = f"{ckpt}/files/{name}".rsplit("/", 1)[0]
            self.fs.create_dir(parent, recursive=True)
            self._write(f"{ckpt}/files/{name}", p.read_bytes())
        return names

    def _write(self, path: str, data: bytes) -> None:
        with self.fs.open_output_stream(path) as out:
            out.write(data)

    def _remove_all_but(self, keep: str | None) -> None:
        for info in self._entries():
            if info.path.rstrip("/") != keep:
                self._delete(info.path)

    def _delete(self, path: str) -> None:
        with contextlib.suppress(OSError):  # removed by another attempt meanwhile
            self.fs.delete_dir(path)

    def clear(self) -> None:
        """Remove every checkpoint of the trial (it finished)."""
        self._delete(self.dir)

    # -- reading -------------------------------------------------------------------------------

    def _entries(self) -> list[Any]:
        import pyarrow.fs as pafs

        try:
            infos = self.fs.get_file_info(pafs.FileSelector(self.dir, allow_not_found=True))
        except (FileNotFoundError, OSError):
            return []
        return [i for i in infos if i.type == pafs.FileType.Directory]

    def latest(self) -> Checkpoint | None:
        """The newest complete checkpoint that belongs to this trial, or None."""
        for info in sorted(self._entries(), key=lambda i: i.base_name, reverse=True):
            marker = self._marker(info.path)
            if marker is None:
                continue
            try:
                return self._load(info.path, marker)
            except (OSError, ValueError):  # removed meanwhile by a newer one, or not data
                continue
        return None

    def _marker(self, ckpt: str) -> dict[str, Any] | None:
        try:
            with self.fs.open_input_stream(f"{ckpt}/{MARKER}") as fh:
                marker = json.loads(fh.read().decode("utf-8"))
        except (FileNotFoundError, OSError, ValueError):
            return None  # not committed (or not ours): no checkpoint
        ours = (
            isinstance(marker, dict)
            and marker.get("format") == FORMAT
            and marker.get("trial") == self.number
            and marker.get("study") == self.place.study
            and _same_params(marker.get("params"), self.params)
        )
        return marker if ours else None

    def _load(self, ckpt: str, marker: dict[str, Any]) -> Checkpoint:
        import io

        import numpy as np

        arrays: dict[str, np.ndarray] = {}
        if marker.get("arrays"):
            with self.fs.open_input_stream(f"{ckpt}/{ARRAYS}") as fh:
                raw = io.BytesIO(fh.read())
            with np.load(raw, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        directory = None
        if marker.get("files"):
            directory = Path(tempfile.mkdtemp(prefix=f"sparktf-ckpt-{self.number}-"))
            for name in marker["files"]:
                target = (directory / name).resolve()
                if directory.resolve() not in target.parents:
                    shutil.rmtree(directory, ignore_errors=True)
                    raise ValueError(f"checkpoint file {name!r} points outside its folder")
                target.parent.mkdir(parents=True, exist_ok=True)
                with self.fs.open_input_stream(f"{ckpt}/files/{name}") as fh:
                    target.write_bytes(fh.read())
        return Checkpoint(int(marker["step"]), arrays, dict(marker.get("meta") or {}), directory)


def _same_params(saved: Any, params: Mapping[str, Any]) -> bool:
    """Whether the saved parameters are the trial's (compared as JSON: tuples are lists)."""
    norm = json.loads(json.dumps(dict(params), sort_keys=True, default=_json_default))
    return bool(saved == norm)


# the schemes pyarrow.fs knows (besides plain local paths)
SCHEMES = ("file", "hdfs", "viewfs", "s3", "gs", "gcs", "abfs", "abfss")


def check_store_url(url: str) -> None:
    """Check a checkpoint store's URL without touching the store (a network may be needed).

    Raises:
        ConfigError: an empty URL, or a scheme pyarrow.fs does not know.
    """
    from sparktf.errors import ConfigError

    if not url.strip():
        raise ConfigError("--checkpoint-dir must not be empty")
    if "://" not in url:
        return
    scheme = url.split("://", 1)[0].lower()
    if scheme not in SCHEMES:
        raise ConfigError(
            f"--checkpoint-dir {url!r}: unknown filesystem {scheme!r}; expected a local path or "
            f"a URL of {', '.join(s + '://' for s in SCHEMES)}"
        )


def check_writable(root: str) -> str | None:
    """Write and remove a small file under ``root``; None when that worked, else why not."""
    try:
        fs, path = filesystem(root)
        probe = f"{path}/.sparktf-probe-{uuid.uuid4().hex[:8]}"
        fs.create_dir(path, recursive=True)
        with fs.open_output_stream(probe) as out:
            out.write(b"ok")
        fs.delete_file(probe)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None
