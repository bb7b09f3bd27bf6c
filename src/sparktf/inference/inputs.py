"""Where images come from: files (Spark's ``binaryFile``), URLs, Parquet, IDX, or a DataFrame.

Every source becomes a DataFrame of two columns, ``id`` (string: path, URL, index or the id
column) and the payload: ``content`` (encoded image bytes, or raw pixels for IDX) or ``url``.
"""

from __future__ import annotations

import fnmatch
import glob as globlib
import gzip
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparktf.errors import ConfigError
from sparktf.inference.config import PredictConfig

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "gif", "bmp", "webp", "tif", "tiff")
# a folder's files are kept by extension, all lower or all upper case (Spark's glob filter)
_FOLDER_EXTENSIONS = frozenset({*IMAGE_EXTENSIONS, *(e.upper() for e in IMAGE_EXTENSIONS)})
_ID_CANDIDATES = ("id", "path", "url", "key", "file", "filename", "name")
_IMAGE_CANDIDATES = ("content", "image", "bytes", "data")
# string columns of image paths, by name (a table's image column when none is binary)
_PATH_CANDIDATES = ("path", "image", "image_path", "file", "filename", "filepath", "content")


class Payload(str, Enum):
    """What the second column of an input DataFrame holds."""

    ENCODED = "encoded"  # image file bytes (JPEG, PNG, ...)
    URLS = "urls"  # URLs to fetch on the executors
    PIXELS = "pixels"  # raw uint8 pixels of a known shape (IDX files)
    PATHS = "paths"  # image file paths (absolute URIs) read on the executors


@dataclass(frozen=True)
class ImageInput:
    """An input ready for prediction.

    Attributes:
        df: columns ``id`` (string) and ``content`` (binary) or ``url`` (string).
        payload: what the second column holds.
        description: for messages (``"files under images/"``).
        pixel_shape: the shape of one image for ``Payload.PIXELS``.
        files: how many files a batch of image files reads, or a stream's micro-batch at
            most (``None`` for other inputs and unbounded micro-batches): Spark's file scan
            splits as many files into at least as many partitions as it has task slots, so
            they need no shuffle to spread.
    """

    df: DataFrame
    payload: Payload
    description: str
    pixel_shape: tuple[int, ...] | None = None
    files: int | None = None


def _has_scheme(path: str) -> bool:
    return "://" in path or path.startswith("file:")


def _is_idx(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
            if head[:2] == b"\x1f\x8b":
                fh.seek(0)
                with gzip.open(fh) as gz:
                    head = gz.read(4)
    except OSError:
        return False
    return len(head) == 4 and head[0] == 0 and head[1] == 0 and head[2] == 0x08 and head[3] >= 3


def _is_parquet(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".parquet"
    if path.is_dir():
        return path.name.lower().endswith(".parquet") or any(path.glob("*.parquet"))
    return False


def _glob_magic(part: str) -> bool:
    return any(c in part for c in "*?[{")


@dataclass(frozen=True)
class FileSource:
    """Where Spark's ``binaryFile`` reads image files from.

    Attributes:
        path: the directory, file or glob given to ``load``.
        glob_filter: ``pathGlobFilter`` (file names to keep), or ``None``.
        recursive: ``recursiveFileLookup``.
        description: for messages (``"input folder photos/"``).
    """

    path: str
    glob_filter: str | None
    recursive: bool
    description: str


def _extensions_text() -> str:
    return ", ".join(f".{e}" for e in IMAGE_EXTENSIONS)


def _folder_filter() -> str:
    return f"*.{{{','.join(sorted(_FOLDER_EXTENSIONS))}}}"


def _hidden(name: str) -> bool:
    """Names Spark's file listing skips: ``.hidden``, ``_temporary`` (not ``_key=value``)."""
    return name.startswith(".") or (name.startswith("_") and "=" not in name)


def _first_match(base: Path, matches: Callable[[str], bool]) -> Path | None:
    """The first file under ``base`` whose name ``matches``, walking the way Spark lists
    (hidden names skipped), or ``None``."""
    for root, dirs, names in os.walk(base):
        dirs[:] = [d for d in dirs if not _hidden(d)]
        for name in names:
            if not _hidden(name) and matches(name):
                return Path(root) / name
    return None


def _is_image_name(name: str) -> bool:
    """What the folder filter keeps: an image extension, all lower or all upper case."""
    _, dot, ext = name.rpartition(".")
    return bool(dot) and ext in _FOLDER_EXTENSIONS


def no_images_error(src: FileSource) -> ConfigError:
    """The error for an input that lists no image file."""
    if src.glob_filter == _folder_filter():
        return ConfigError(
            f"{src.description} holds no image files: looked (recursively) for names ending in "
            f"{_extensions_text()}, upper or lower case; names starting with '.' or '_' are "
            "skipped. Check the path, or give a glob such as 'images/**/*.png'"
        )
    return ConfigError(
        f"{src.description} matches no file: check the pattern (a folder is searched for "
        f"{_extensions_text()})"
    )


def file_source(source: str, allow_empty: bool = False) -> FileSource:
    """Where to read image files for a directory, glob or file; a local one is checked here,
    without Spark (it exists, it holds or matches files).

    Args:
        source: the directory, glob or file.
        allow_empty: a folder or glob that holds no image yet is fine (a stream's landing
            folder).

    Raises:
        ConfigError: a missing path, an empty folder, a glob that matches nothing.
    """
    local = not _has_scheme(source)
    if local and not _glob_magic(source):
        p = Path(source).expanduser()
        if not p.exists():
            raise ConfigError(
                f"input {source} does not exist: expected an image directory, a glob such as "
                "'images/**/*.png', a Parquet table, an IDX file or (with --urls) a URL list"
            )
        if not p.is_dir():
            return FileSource(str(p.resolve()), None, False, f"input file {source}")
        src = FileSource(str(p.resolve()), _folder_filter(), True, f"input folder {source}")
        if not allow_empty and _first_match(p, _is_image_name) is None:
            raise no_images_error(src)
        return src
    parts = source.split("/")
    if "**" in parts:
        return _recursive_glob(source, parts, local, allow_empty)
    src = FileSource(source, None, False, f"input pattern {source!r}")
    if local:
        head = Path(source).expanduser()
        src = replace(src, path=str(head if head.is_absolute() else Path.cwd() / head))
        # Python's glob has no {a,b}
        if not allow_empty and "{" not in source and not globlib.glob(str(head)):
            raise no_images_error(src)
    return src


def _recursive_glob(
    source: str, parts: list[str], local: bool, allow_empty: bool = False
) -> FileSource:
    """``base/**/pattern``: every file under ``base`` whose name matches ``pattern``."""
    i = parts.index("**")
    base = "/".join(parts[:i]) or "."
    pattern = "/".join(parts[i + 1 :])
    if "/" in pattern or not pattern:
        raise ConfigError(
            f"input glob {source!r}: after '**/' only a file pattern is supported "
            "(e.g. 'images/**/*.png')"
        )
    src = FileSource(base, pattern, True, f"input pattern {source!r}")
    if local:
        if not Path(base).expanduser().is_dir():
            raise ConfigError(f"input glob {source!r}: directory {base} does not exist")
        src = replace(src, path=str(Path(base).expanduser().resolve()))
        if (
            not allow_empty
            and "{" not in pattern
            and _first_match(Path(src.path), lambda name: fnmatch.fnmatchcase(name, pattern))
            is None
        ):
            raise no_images_error(src)
    return src


def _spark_error(source: str, exc: Exception) -> ConfigError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ConfigError(f"cannot read input {source}: {first}")


def files_input(spark: SparkSession, source: str) -> ImageInput:
    """Image files by directory (recursive, image extensions only), glob or single file.

    Raises:
        ConfigError: a missing path, or no file to read (before any model is shipped).
    """
    from pyspark.sql import functions as F

    from sparktf.pyspark_compat import input_files

    src = file_source(source)
    reader = spark.read.format("binaryFile")
    if src.recursive:
        reader = reader.option("recursiveFileLookup", "true")
    if src.glob_filter is not None:
        reader = reader.option("pathGlobFilter", src.glob_filter)
    try:  # a Connect session reads lazily: the listing is where a bad path shows
        df = reader.load(src.path)
        files = input_files(df)  # one call on Connect; two Py4J calls on classic
    except Exception as exc:  # AnalysisException: path not found etc.
        if _glob_magic(source) and "Path does not exist" in str(exc):
            raise no_images_error(src) from exc  # Hadoop's glob matched nothing
        raise _spark_error(source, exc) from exc
    out = df.select(F.col("path").alias("id"), F.col("content"))
    if not files:  # what the local check cannot see: remote file systems, {a,b} patterns
        raise no_images_error(src)
    empty = _empty_local_files(files)
    if empty:
        # Spark's file scan skips zero-byte files (its listing keeps them); they are inputs too
        # and get their own row. The driver sees local files (classic, or a local Connect
        # server); elsewhere they cannot be told apart from the listing alone.
        extra = spark.createDataFrame([(p, b"") for p in empty], schema="id string, content binary")
        out = out.unionByName(extra)
    return ImageInput(out, Payload.ENCODED, f"files {source}", files=len(files))


def _empty_local_files(files: list[str]) -> list[str]:
    """The zero-byte files among Spark's listing (local file system only), named the way
    ``binaryFile``'s ``path`` column names files (``file:/dir/name``)."""
    from urllib.parse import unquote, urlsplit

    empty = []
    for uri in files:
        parts = urlsplit(uri)
        if parts.scheme not in ("", "file"):
            continue
        local = unquote(parts.path)
        try:
            if os.stat(local).st_size == 0:
                empty.append(f"file:{local}")
        except OSError:
            continue
    return empty


def _check_url_list(source: str) -> None:
    if not _has_scheme(source) and not Path(source).expanduser().is_file():
        raise ConfigError(f"URL list {source} does not exist: expected a text file, one URL a line")


def urls_input(spark: SparkSession, source: str) -> ImageInput:
    """A text file of URLs, one per line (blank lines and ``#`` comments skipped)."""
    from pyspark.sql import functions as F

    _check_url_list(source)
    path = source if _has_scheme(source) else str(Path(source).expanduser().resolve())
    try:
        lines = spark.read.text(path)
    except Exception as exc:
        raise _spark_error(source, exc) from exc
    url = F.trim(F.col("value"))
    df = lines.select(url.alias("url")).where((F.col("url") != "") & ~F.col("url").startswith("#"))
    return ImageInput(df.select(F.col("url").alias("id"), "url"), Payload.URLS, f"URLs in {source}")


def _pick(columns: list[str], wanted: str | None, candidates: tuple[str, ...]) -> str | None:
    if wanted is not None:
        return wanted
    lower = {c.lower(): c for c in columns}
    for name in candidates:
        if name in lower:
            return lower[name]
    return None


def dataframe_input(df: DataFrame, cfg: PredictConfig, description: str) -> ImageInput:
    """A DataFrame with an image-bytes column (or, with ``url_column``, a URL column).

    Raises:
        ConfigError: the named column is missing or has the wrong type.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import BinaryType, StringType

    types = {f.name: f.dataType for f in df.schema.fields}
    columns = list(types)
    id_col = _pick(columns, cfg.id_column, _ID_CANDIDATES)
    if id_col is not None and id_col not in types:
        raise ConfigError(f"--id-column {id_col!r} is not a column of {description}: {columns}")
    ident = (
        F.col(id_col).cast("string") if id_col else F.monotonically_increasing_id().cast("string")
    )
    if cfg.url_column or cfg.input_format == "urls":
        col = cfg.url_column or _pick(columns, None, ("url", "uri", "link"))
        if col is None or col not in types or not isinstance(types[col], StringType):
            raise ConfigError(
                f"{description} needs a string column of URLs: name it with url_column= "
                f"(columns: {', '.join(f'{c} {t.simpleString()}' for c, t in types.items())})"
            )
        out = df.select(ident.alias("id"), F.col(col).alias("url"))
        return ImageInput(out, Payload.URLS, description)
    binary = [c for c, t in types.items() if isinstance(t, BinaryType)]
    col = cfg.image_column
    if col is None:
        col = binary[0] if len(binary) == 1 else _pick(binary, None, _IMAGE_CANDIDATES)
    if col is None or col not in types or not isinstance(types[col], BinaryType):
        raise ConfigError(
            f"{description} needs a binary column of encoded images: name it with "
            f"--image-column (columns: "
            f"{', '.join(f'{c} {t.simpleString()}' for c, t in types.items())})"
        )
    return ImageInput(
        df.select(ident.alias("id"), F.col(col).alias("content")), Payload.ENCODED, description
    )


def table_image_column(types: dict[str, str], cfg: PredictConfig, description: str) -> str:
    """The image column of a table whose columns have the kinds ``types`` (``binary``,
    ``string`` or anything else): ``--image-column``, the one binary column, or a binary or
    string column named like an image or a path.

    Raises:
        ConfigError: no such column (the message names the table's columns).
    """
    col = cfg.image_column
    if col is None:
        binary = [c for c, k in types.items() if k == "binary"]
        col = binary[0] if len(binary) == 1 else _pick(binary, None, _IMAGE_CANDIDATES)
    if col is None:
        strings = [c for c, k in types.items() if k == "string"]
        col = _pick(strings, None, _PATH_CANDIDATES)
    if col is None or types.get(col) not in ("binary", "string"):
        given = f"--image-column {col!r} is not a binary or string column; " if col else ""
        raise ConfigError(
            f"{description}: {given}expected a column of image bytes, or of image paths "
            "(relative to the table's folder, or absolute); name it with --image-column "
            f"(columns: {', '.join(f'{c} {k}' for c, k in types.items()) or 'none'})"
        )
    return col


def _spark_kinds(df: DataFrame) -> dict[str, str]:
    from pyspark.sql.types import BinaryType, StringType

    kinds = {BinaryType: "binary", StringType: "string"}
    return {
        f.name: kinds.get(type(f.dataType), f.dataType.simpleString()) for f in df.schema.fields
    }


def _arrow_kinds(types: dict[str, Any]) -> dict[str, str]:
    import pyarrow.types as pat

    def kind(t: Any) -> str:
        if pat.is_binary(t) or pat.is_large_binary(t):
            return "binary"
        return "string" if pat.is_string(t) or pat.is_large_string(t) else str(t)

    return {name: kind(t) for name, t in types.items()}


def _table_name(source: str, fmt: str) -> str:
    return f"{'CSV' if fmt == 'csv' else 'Parquet'} table {source}"


def _table_folder(source: str) -> str:
    """The folder that relative image paths in the table ``source`` start from."""
    if _has_scheme(source):
        return source.rstrip("/").rsplit("/", 1)[0]
    return str(Path(source).expanduser().resolve().parent)


def table_input(spark: SparkSession, source: str, fmt: str, cfg: PredictConfig) -> ImageInput:
    """A CSV or Parquet table (as ``tune --data`` takes) with an image column of bytes or of
    paths (relative to the table's folder, or absolute): one row per table row."""
    from pyspark.sql import functions as F

    path = source if _has_scheme(source) else str(Path(source).expanduser().resolve())
    try:
        df = spark.read.csv(path, header=True) if fmt == "csv" else spark.read.parquet(path)
    except Exception as exc:
        raise _spark_error(source, exc) from exc
    description = _table_name(source, fmt)
    kinds = _spark_kinds(df)
    col = table_image_column(kinds, cfg, description)
    if kinds[col] == "binary":
        return dataframe_input(df, replace(cfg, image_column=col), description)
    id_col = _pick(list(kinds), cfg.id_column, _ID_CANDIDATES) or col
    if id_col not in kinds:
        raise ConfigError(f"--id-column {id_col!r} is not a column of {description}: {list(kinds)}")
    value = F.col(col)
    absolute = value.rlike(r"^(/|[A-Za-z][A-Za-z0-9+.-]*:)")
    uri = F.when(absolute, value).otherwise(F.concat(F.lit(_table_folder(source) + "/"), value))
    out = df.select(F.col(id_col).cast("string").alias("id"), uri.alias("path"))
    return ImageInput(out, Payload.PATHS, description)


def _table_format(text: str) -> str | None:
    """``parquet`` or ``csv`` when ``text`` names such a table (a file, or a folder of them that
    holds no image file), else ``None``."""
    from sparktf.datasets.files import Location
    from sparktf.datasets.tables import table_format

    loc = Location(text)
    if not loc.is_local:
        return table_format(loc, "file")  # by its suffix: no listing of remote storage
    p = Path(text).expanduser()
    if not p.exists() or _glob_magic(text):
        return None
    if p.is_dir() and any(_is_image_name(c.name) for c in p.iterdir() if c.is_file()):
        return None
    return table_format(loc, "dir" if p.is_dir() else "file")


def check_table(source: str, fmt: str, cfg: PredictConfig) -> None:
    """A local table has a usable image column (before Spark starts).

    Raises:
        ConfigError: it has none; the message names its columns.
    """
    from sparktf.datasets.files import Location
    from sparktf.datasets.tables import columns_of

    loc = Location(source)
    if loc.is_local:
        kinds = _arrow_kinds(columns_of(loc, fmt))
        table_image_column(kinds, cfg, _table_name(source, fmt))


def idx_input(spark: SparkSession, source: str) -> ImageInput:
    """An MNIST-format IDX image file (raw or gzipped): one row per image, id = its index."""
    import numpy as np
    import pandas as pd

    from sparktf.datasets import read_idx

    try:
        images = read_idx(source)
    except Exception as exc:
        raise ConfigError(f"cannot read IDX file {source}: {exc}") from exc
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] not in (1, 3)):
        raise ConfigError(
            f"IDX file {source} holds an array of shape {images.shape}: expected images "
            "(n, rows, cols) or (n, rows, cols, 1 or 3)"
        )
    if images.dtype != np.uint8:
        raise ConfigError(f"IDX file {source} holds {images.dtype} values: expected uint8 pixels")
    pdf = pd.DataFrame(
        {"id": [str(i) for i in range(len(images))], "content": [x.tobytes() for x in images]}
    )
    df = spark.createDataFrame(pdf, schema="id string, content binary")
    return ImageInput(df, Payload.PIXELS, f"IDX file {source}", tuple(images.shape[1:]))


def _input_format(text: str, cfg: PredictConfig) -> str:
    """``cfg.input_format``, or for ``auto`` the format the path's form says."""
    if cfg.input_format != "auto":
        return cfg.input_format
    p = Path(text).expanduser()
    if not _has_scheme(text) and not _glob_magic(text) and _is_parquet(p):
        return "parquet"
    if not _has_scheme(text) and p.is_file() and _is_idx(p):
        return "idx"
    return _table_format(text) or "files"


def check_input(source: Any, cfg: PredictConfig) -> None:
    """The checks of an input path that need no Spark: a missing local path, an empty local
    folder, a local glob that matches nothing; run before the model is loaded or Spark starts.

    Raises:
        ConfigError: as above.
    """
    if not isinstance(source, (str, Path)):
        return  # a DataFrame
    text = str(source)
    fmt = _input_format(text, cfg)
    if fmt == "files":
        file_source(text)
    elif fmt == "urls":
        _check_url_list(text)
    elif fmt in ("parquet", "csv"):
        if not _has_scheme(text) and not Path(text).expanduser().exists():
            raise ConfigError(f"input table {text} does not exist")
        check_table(text, fmt, cfg)


def load_input(spark: SparkSession, source: Any, cfg: PredictConfig) -> ImageInput:
    """Turn what the user gave into an :class:`ImageInput`.

    Args:
        spark: the session.
        source: a DataFrame, or a path: image directory/glob/file, CSV or Parquet table (image
            bytes or paths), IDX file, or
            (``input_format="urls"``) a text file of URLs.
        cfg: ``input_format`` and column choices.

    Raises:
        ConfigError: missing or empty input, unknown form, wrong columns.
    """
    from pyspark.sql import DataFrame

    if isinstance(source, DataFrame):
        return dataframe_input(source, cfg, "the input DataFrame")
    text = str(source)
    fmt = _input_format(text, cfg)
    if fmt == "urls":
        return urls_input(spark, text)
    if fmt in ("parquet", "csv"):
        return table_input(spark, text, fmt, cfg)
    if fmt == "idx":
        return idx_input(spark, text)
    return files_input(spark, text)


BINARY_FILE_SCHEMA = "path string, modificationTime timestamp, length bigint, content binary"
# Spark's file source forgets a file older than this relative to the newest one it has seen (7
# days by default): a file moved in with an old modification time would be skipped.
_NEVER_TOO_OLD = "36500d"


def _stream_table(spark: SparkSession, source: str, fmt: str) -> DataFrame:
    """A growing Parquet or Delta table as a stream (the schema from what it holds now)."""
    path = source if _has_scheme(source) else str(Path(source).expanduser().resolve())
    if fmt == "delta":
        try:
            return spark.readStream.format("delta").load(path)
        except Exception as exc:
            raise _spark_error(source, exc) from exc
    try:
        schema = spark.read.parquet(path).schema
    except Exception as exc:
        raise ConfigError(
            f"cannot stream Parquet table {source}: its schema is read from the files it holds "
            f"now ({_spark_error(source, exc)}); start the stream once it has a file"
        ) from exc
    return spark.readStream.schema(schema).parquet(path)


_LISTING_KEY = "spark.sql.sources.parallelPartitionDiscovery.threshold"
_LOCAL_LISTING_THRESHOLD = 1_000_000


def _list_locally(spark: SparkSession) -> None:
    """Spark's file source opens each micro-batch's files as a list of paths, which above this
    session setting (32) it checks with a Spark job: 3.5 s for 1,000 local files here, more
    than predicting them. Local files are checked in the driver instead (the setting is raised
    for the session; remote file systems keep Spark's parallel listing)."""
    current = spark.conf.get(_LISTING_KEY, None)
    if current is None or int(current) < _LOCAL_LISTING_THRESHOLD:
        spark.conf.set(_LISTING_KEY, str(_LOCAL_LISTING_THRESHOLD))


def _stream_files(spark: SparkSession, source: str, max_files: int | None) -> DataFrame:
    """New image files under a folder or glob as a stream (Spark's file source)."""
    src = file_source(source, allow_empty=True)
    if not _has_scheme(source):
        _list_locally(spark)
    reader = spark.readStream.format("binaryFile").schema(BINARY_FILE_SCHEMA)
    reader = reader.option("maxFileAge", _NEVER_TOO_OLD)
    if src.recursive:
        reader = reader.option("recursiveFileLookup", "true")
    if src.glob_filter is not None:
        reader = reader.option("pathGlobFilter", src.glob_filter)
    if max_files is not None:
        reader = reader.option("maxFilesPerTrigger", str(max_files))
    try:
        return reader.load(src.path)
    except Exception as exc:
        raise _spark_error(source, exc) from exc


def stream_format(source: Any, cfg: PredictConfig) -> str:
    """How ``--stream`` reads ``source``: ``files`` (new image files in a folder),
    ``parquet`` or ``delta`` (a growing table), or ``dataframe`` (a streaming DataFrame).

    Raises:
        ConfigError: a form that cannot be streamed (URL list, IDX file, missing path).
    """
    from pyspark.sql import DataFrame

    if isinstance(source, DataFrame):
        return "dataframe"
    text = str(source)
    if not _has_scheme(text) and (Path(text).expanduser() / "_delta_log").is_dir():
        return "delta"
    fmt = _input_format(text, cfg)
    if fmt not in ("files", "parquet"):
        what = {"urls": "a URL list", "idx": "an IDX file", "csv": "a CSV table"}[fmt]
        raise ConfigError(
            f"--stream reads new image files from a folder or a growing Parquet/Delta table, "
            f"not {what} ({text})"
        )
    if fmt == "files":
        src = file_source(text, allow_empty=True)
        if not _has_scheme(text) and Path(src.path).is_file():
            raise ConfigError(
                f"--stream reads new files from a folder: {text} is a file (give its folder)"
            )
    return fmt


def stream_input(
    spark: SparkSession, source: Any, cfg: PredictConfig, max_files: int | None = None
) -> ImageInput:
    """A stream of images: new files in a folder (``id`` = path), rows appended to a
    Parquet/Delta table, or a streaming DataFrame (``id`` = the id column).

    Args:
        max_files: files per micro-batch at most (file sources only).

    Raises:
        ConfigError: a form that cannot be streamed, a table without an id column.
    """
    from pyspark.sql import functions as F

    fmt = stream_format(source, cfg)
    if fmt == "files":
        df = _stream_files(spark, str(source), max_files)
        out = df.select(F.col("path").alias("id"), F.col("content"))
        return ImageInput(out, Payload.ENCODED, f"new files in {source}", files=max_files)
    table = source if fmt == "dataframe" else _stream_table(spark, str(source), fmt)
    description = "the input stream" if fmt == "dataframe" else f"{fmt} table {source}"
    if _pick(table.columns, cfg.id_column, _ID_CANDIDATES) is None:
        raise ConfigError(
            f"{description} has no id column (one of {', '.join(_ID_CANDIDATES)}): name the "
            "column that identifies a row with --id-column (a row's position means nothing "
            "in a stream)"
        )
    return dataframe_input(table, cfg, description)
