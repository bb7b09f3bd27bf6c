"""Reader and writer for the IDX format of MNIST-style data sets (raw or gzip-compressed).

An IDX file is two zero bytes, a type code, the number of dimensions, one big-endian 32-bit size
per dimension, then the values in C order.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from sparktf.errors import DataError

_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder(">") if dt.itemsize > 1 else dt: code for code, dt in _DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read IDX file {path}: {exc.strerror or exc}") from exc
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(
            f"IDX file {path} is a truncated or corrupt gzip file ({exc}); "
            "download it again or delete it so that sparktf fetches a fresh copy"
        ) from exc


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file.

    Args:
        data: the file's bytes.
        source: a name for error messages.

    Returns:
        The array, in native byte order, with the shape the header declares.

    Raises:
        DataError: wrong magic number, unknown type code, or truncated data.
    """
    if len(data) < 4:
        raise DataError(f"IDX file {source} is truncated: {len(data)} bytes, no complete header")
    if data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise DataError(
            f"{source} is not an IDX file: magic number 0x{data[:4].hex()} "
            "(expected 0x0000 followed by a type code 08/09/0B/0C/0D/0E and the dimension count)"
        )
    dtype = _DTYPES[data[2]]
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"IDX file {source} is truncated inside its header ({len(data)} bytes)")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    body = len(data) - header
    if body < expected:
        raise DataError(
            f"IDX file {source} is truncated: header declares shape {shape} "
            f"({expected} bytes of data) but only {body} bytes follow"
        )
    arr = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    return arr.reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, gzip-compressed or raw (detected from its first bytes).

    Raises:
        DataError: the file is missing, truncated, or not an IDX file.
    """
    p = Path(path)
    return parse_idx(_read_bytes(p), str(p))


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file; gzip it when ``compress`` or the name ends in ``.gz``.

    Raises:
        ValueError: the array's dtype has no IDX type code.
    """
    p = Path(path)
    arr = np.asarray(array)
    big = arr.dtype.newbyteorder(">") if arr.dtype.itemsize > 1 else arr.dtype
    if big not in _CODES:
        raise ValueError(f"dtype {arr.dtype} cannot be stored in IDX (use uint8/int8/16/32/f4/f8)")
    header = bytes([0, 0, _CODES[big], arr.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in arr.shape
    )
    payload = header + np.ascontiguousarray(arr, dtype=big).tobytes()
    if compress if compress is not None else p.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(payload)
    return p
