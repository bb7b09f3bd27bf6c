"""Keras model files: load one, save a model as bytes and back, and check a file is one.

``.keras`` (a zip archive) and legacy ``.h5``/``.hdf5`` (HDF5) files are loaded without
compiling them; ``safe_mode`` refuses code inside the file unless the caller opts out.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from sparktf.errors import ConfigError

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def load_keras(path: str, safe_mode: bool) -> Any:
    """Load a Keras model file without compiling it."""
    import keras

    return keras.saving.load_model(path, compile=False, safe_mode=safe_mode)


def describe_file(path: Path) -> str:
    """What a file looks like, for messages: empty, a zip archive, HDF5, text or binary."""
    size = path.stat().st_size
    if size == 0:
        return "an empty file"
    with path.open("rb") as fh:
        head = fh.read(256)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        return f"a zip archive of {len(names)} entries ({shown or 'none'})"
    if head.startswith(_HDF5_MAGIC):
        return "an HDF5 file"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"{size} bytes of binary data starting {head[:8].hex(' ')}"
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"a text file of {size} bytes starting {first[:60]!r}"


def check_keras_file(path: Path, name: str) -> None:
    """Refuse, with what was expected and what was found, a file that cannot be a Keras model
    file: a ``.keras`` file must be a zip archive holding ``config.json``; an ``.h5`` file must
    be HDF5.

    Raises:
        ConfigError: the file's content does not match its suffix.
    """
    if path.suffix.lower() == ".keras":
        expected = "a .keras zip archive with config.json inside (as written by model.save)"
        ok = zipfile.is_zipfile(path)
        if ok:
            with zipfile.ZipFile(path) as zf:
                ok = "config.json" in zf.namelist()
    else:
        import h5py

        expected = "an HDF5 file (as written by model.save('model.h5'))"
        ok = h5py.is_hdf5(str(path))
    if not ok:
        raise ConfigError(
            f"{name} is not a valid Keras file: expected {expected}, found "
            f"{describe_file(path)}. Check the path, or save the model again with "
            "model.save('model.keras')"
        )


def model_to_bytes(model: Any) -> bytes:
    """The model saved in Keras format, as bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        with open(path, "rb") as fh:
            return fh.read()


def model_from_bytes(blob: bytes, safe_mode: bool = True) -> Any:
    """The model that :func:`model_to_bytes` saved, loaded without compiling it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        path.write_bytes(blob)
        return load_keras(str(path), safe_mode)
