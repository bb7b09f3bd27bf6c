"""Paths that local disks, HDFS, S3 or GCS hold, read the same way through ``pyarrow.fs``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from sparktf.errors import ConfigError


@dataclass(frozen=True)
class Location:
    """A path and the filesystem that holds it (picklable: the filesystem is found again)."""

    uri: str

    @property
    def is_local(self) -> bool:
        """Not a URI with a scheme (``file://`` counts as local)."""
        return "://" not in self.uri or self.uri.startswith("file://")

    def resolve(self) -> tuple[Any, str]:
        """``(pyarrow filesystem, path inside it)``.

        Raises:
            ConfigError: pyarrow knows no filesystem for the URI's scheme.
        """
        import pyarrow.fs as pafs

        if "://" not in self.uri:
            return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(self.uri))
        try:
            return pafs.FileSystem.from_uri(self.uri)
        except (ValueError, OSError) as exc:
            raise ConfigError(f"cannot open {self.uri}: {exc}") from exc

    def kind(self) -> str:
        """``"dir"``, ``"file"`` or ``"missing"``."""
        import pyarrow.fs as pafs

        fs, path = self.resolve()
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.Directory:
            return "dir"
        return "file" if info.type == pafs.FileType.File else "missing"

    def child(self, name: str) -> Location:
        """``name`` inside this directory (or beside this file when ``name`` is relative)."""
        if "://" in name or os.path.isabs(name):
            return Location(name)
        return Location(self.uri.rstrip("/") + "/" + name)


def read_bytes(fs: Any, path: str) -> bytes:
    """The whole content of ``path`` in ``fs``."""
    with fs.open_input_stream(path) as fh:
        return bytes(fh.read())


def listing(fs: Any, root: str) -> list[tuple[str, int, float]]:
    """Every file under ``root``: ``(path, size, mtime seconds)``, sorted by path."""
    import pyarrow.fs as pafs

    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    out = [
        (i.path, int(i.size or 0), i.mtime.timestamp() if i.mtime else 0.0)
        for i in infos
        if i.type == pafs.FileType.File
    ]
    return sorted(out)


def fingerprint(location: Location) -> str:
    """Changes when the file, or a file under the directory, changes: count, bytes, newest."""
    import pyarrow.fs as pafs

    fs, path = location.resolve()
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.File:
        files = [(path, int(info.size or 0), info.mtime.timestamp() if info.mtime else 0.0)]
    else:
        files = listing(fs, path)
    return summary(files)


def summary(files: list[tuple[str, int, float]]) -> str:
    """``count:bytes:newest mtime`` of :func:`listing`'s entries."""
    newest = max((m for _, _, m in files), default=0.0)
    return f"{len(files)}:{sum(size for _, size, _ in files)}:{newest}"
