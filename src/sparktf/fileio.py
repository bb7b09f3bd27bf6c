"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename.

    Several processes may write the same path at once (each uses its own temporary name).

    Returns:
        The path written.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented, key-sorted JSON (atomically); non-JSON values as strings."""
    return write_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
