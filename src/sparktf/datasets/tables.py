"""Parquet and CSV tables: labels, an image column (bytes or paths), or numeric features."""

from __future__ import annotations

from typing import Any

import numpy as np

from sparktf.datasets.files import Location
from sparktf.errors import ConfigError

TABLE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


def table_format(location: Location, kind: str) -> str | None:
    """``"parquet"`` or ``"csv"`` when ``location`` is such a file, or a directory of them."""
    uri = location.uri.rstrip("/").lower()
    for suffix, fmt in TABLE_SUFFIXES.items():
        if uri.endswith(suffix):
            return fmt
    if kind != "dir":
        return None
    import pyarrow.fs as pafs

    fs, root = location.resolve()
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=False))
    if any(  # class folders (beside a labels.csv, say); partition folders are key=value
        i.type == pafs.FileType.Directory
        and not i.base_name.startswith((".", "_"))
        and "=" not in i.base_name
        for i in infos
    ):
        return None
    suffixes = {
        TABLE_SUFFIXES.get("." + i.base_name.rsplit(".", 1)[-1].lower())
        for i in infos
        if i.type == pafs.FileType.File and "." in i.base_name
    }
    found = sorted(s for s in suffixes if s)
    return found[0] if len(found) == 1 else None


def _dataset(location: Location, fmt: str) -> Any:
    import pyarrow.dataset as pads

    fs, path = location.resolve()
    try:
        return pads.dataset(path, filesystem=fs, format=fmt)
    except Exception as exc:  # pyarrow's errors: ArrowInvalid, OSError, ...
        raise ConfigError(f"cannot read {location.uri} as a {fmt} table: {exc}") from exc


def columns_of(location: Location, fmt: str) -> dict[str, Any]:
    """The table's column names and Arrow types."""
    schema = _dataset(location, fmt).schema
    return {name: schema.field(name).type for name in schema.names}


def read_columns(location: Location, fmt: str, names: list[str], flag: str = "--data") -> Any:
    """The named columns as a ``pyarrow.Table``.

    Raises:
        ConfigError: a column is missing (the message lists the table's columns).
    """
    ds = _dataset(location, fmt)
    missing = [n for n in names if n not in ds.schema.names]
    if missing:
        raise ConfigError(
            f"{flag} {location.uri} has no column {', '.join(map(repr, missing))}; its columns: "
            f"{', '.join(ds.schema.names)}"
        )
    try:
        return ds.to_table(columns=names)
    except Exception as exc:
        raise ConfigError(f"cannot read {location.uri}: {exc}") from exc


def is_numeric(arrow_type: Any) -> bool:
    """Integer, floating point, decimal or boolean."""
    import pyarrow.types as pat

    return bool(
        pat.is_integer(arrow_type)
        or pat.is_floating(arrow_type)
        or pat.is_boolean(arrow_type)
        or pat.is_decimal(arrow_type)
    )


def label_values(table: Any, column: str, source: str) -> list[Any]:
    """The label column's values.

    Raises:
        ConfigError: some rows have no label.
    """
    col = table.column(column)
    if col.null_count:
        raise ConfigError(
            f"{source}: {col.null_count} of {len(col)} rows have no {column!r} label; fill them "
            "in or drop those rows"
        )
    return list(col.to_pylist())


def class_names_of(values: list[Any]) -> tuple[str, ...]:
    """The distinct labels, sorted (numbers numerically), as text."""
    distinct = sorted(set(values))
    return tuple(str(v) for v in distinct)


def encode_labels(values: list[Any], classes: tuple[str, ...], source: str) -> np.ndarray:
    """Class indices of ``values``.

    Raises:
        ConfigError: a label is not one of ``classes`` (a test set with a new class).
    """
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({str(v) for v in values} - set(index))
    if unknown:
        raise ConfigError(
            f"{source}: label(s) {', '.join(unknown[:10])} are not among the training classes "
            f"({', '.join(classes[:20])})"
        )
    return np.array([index[str(v)] for v in values], dtype=np.int64)


def feature_matrix(table: Any, names: list[str], source: str) -> np.ndarray:
    """The named columns as a float32 matrix (rows x features).

    Raises:
        ConfigError: a column is not numeric or has missing values.
    """
    cols = []
    for name in names:
        col = table.column(name)
        if not is_numeric(col.type):
            raise ConfigError(
                f"{source}: feature column {name!r} is not numeric ({col.type}); list only "
                "numeric columns with --feature-columns (encode categories as numbers first)"
            )
        if col.null_count:
            raise ConfigError(
                f"{source}: feature column {name!r} has {col.null_count} missing values; fill "
                "them in or drop those rows"
            )
        cols.append(np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float32))
    return np.stack(cols, axis=1) if cols else np.zeros((table.num_rows, 0), np.float32)
