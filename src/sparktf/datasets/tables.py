"""Parquet and CSV tables: labels, an image column (bytes or paths), or numeric features."""

from __future__ import annotations

import re
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


_ID_NAME = re.compile(r"(^|[_\s.-])(id|uuid|key)$|[a-z]Id$|^index$", re.IGNORECASE)


def is_id_name(name: str) -> bool:
    """Named like an id: ``id``, ``customer_id``, ``customerId``, ``uuid``, ``key``."""
    return bool(_ID_NAME.search(name.strip()))


def unique(column: Any) -> bool:
    """Every row holds a value, and no two the same."""
    import pyarrow.compute as pc

    n = len(column)
    return n > 1 and not column.null_count and pc.count_distinct(column).as_py() == n


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_not_numbers(column: Any, name: str, source: str) -> None:
    """Refuse a column of numbers read as text because of a few non-numeric cells (a typo such
    as ``abc``): at least 4 of its non-empty cells in 5 are numbers.

    Raises:
        ConfigError: such a column; the message names the first bad row and its value.
    """
    values = column.to_pylist()
    cells = [(i, str(v).strip()) for i, v in enumerate(values) if v is not None and str(v).strip()]
    bad = [(i, v) for i, v in cells if not _number(v)]
    if not bad or len(cells) - len(bad) < 0.8 * len(cells):
        return
    row, value = bad[0]
    more = f" (and {len(bad) - 1} more cells)" if len(bad) > 1 else ""
    raise ConfigError(
        f"{source}: column {name!r} holds numbers, but row {row + 1} holds {value!r}{more} "
        "(rows counted from 1 under the header): fix the cell, or choose the features with "
        "--feature-columns"
    )


def row_numbers(rows: list[int], limit: int = 10) -> str:
    """Table rows for a message, counted from 1 (the header of a CSV not counted)."""
    shown = ", ".join(str(r + 1) for r in rows[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


def label_values(table: Any, column: str, source: str) -> list[Any]:
    """The label column's values.

    Raises:
        ConfigError: some rows have no label (null, or empty text: a class named ``""``).
    """
    values = list(table.column(column).to_pylist())
    missing = [
        i for i, v in enumerate(values) if v is None or (isinstance(v, str) and not v.strip())
    ]
    if missing:
        raise ConfigError(
            f"{source}: {len(missing)} of {len(values)} rows have no {column!r} label (row "
            f"{row_numbers(missing)}, counting data rows from 1); fill them in or drop those "
            "rows"
        )
    return values


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
            check_not_numbers(col, name, source)
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
