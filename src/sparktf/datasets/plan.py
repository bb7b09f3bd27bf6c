"""Your own data (``--data PATH``): what it is, its classes, and its seeded splits.

Planning reads only what the driver needs (file listings, the label column, a few image headers);
the images themselves are decoded later, by the driver or by the executors
(:mod:`sparktf.datasets.materialize`), from the same plan; :func:`image_blobs` reads a part's
encoded images for both.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from sparktf.datasets import tables
from sparktf.datasets.files import Location, fingerprint, read_bytes
from sparktf.datasets.folders import read_class_folders
from sparktf.datasets.splits import split
from sparktf.errors import ConfigError

DEFAULT_TEST_FRACTION = 0.2
DEFAULT_MAX_SIDE = 128  # a default image size never exceeds this (keeps small convnets small)
PROBE_IMAGES = 64  # image headers read to choose the size and colour mode


class DataForm(str, Enum):
    """The forms ``--data PATH`` takes."""

    FOLDERS = "class folders"
    IMAGE_TABLE = "table of images"
    FEATURE_TABLE = "table of features"

    @property
    def described(self) -> str:
        """The form in a sentence: ``a folder of class subfolders``, ``a table of images``."""
        return "a folder of class subfolders" if self is DataForm.FOLDERS else f"a {self.value}"

    @property
    def images(self) -> bool:
        """Image data (not numeric features)."""
        return self is not DataForm.FEATURE_TABLE


@dataclass(frozen=True)
class DataOptions:
    """How to read ``--data`` (the TuneConfig data fields, checked there)."""

    path: str
    label_column: str | None = None
    image_column: str | None = None
    feature_columns: tuple[str, ...] | None = None
    id_column: str | None = None
    test_path: str | None = None
    test_fraction: float | None = None
    val_fraction: float = 0.1
    seed: int = 0
    image_size: tuple[int, int] | None = None
    channels: int | None = None  # forced by the model (transfer: 3, mnist_cnn: 1)


@dataclass(frozen=True)
class Part:
    """The examples of one source: file paths (folders) or row numbers (tables)."""

    location: Location
    items: np.ndarray
    labels: np.ndarray

    def take(self, positions: np.ndarray) -> Part:
        """These examples at ``positions``, in that order."""
        return Part(self.location, self.items[positions], self.labels[positions])


@dataclass(frozen=True)
class DataPlan:
    """Everything about the data but its pixels or feature values.

    Attributes:
        form: class folders, a table of images or of features.
        options: how it is read.
        table_format: ``parquet`` or ``csv`` (tables).
        class_names: the classes (index = label).
        train: training examples, validation last (``n_val``).
        test: test examples.
        n_val: the validation split's size.
        image_shape: (height, width, channels) the images are decoded to.
        feature_names: the feature columns (tables of features).
        notes: things the user should know (ignored files, single-example classes).
        fingerprint: changes when the files change.
    """

    form: DataForm
    options: DataOptions
    table_format: str | None
    class_names: tuple[str, ...]
    train: Part
    test: Part
    n_val: int
    image_shape: tuple[int, int, int] | None
    feature_names: tuple[str, ...]
    notes: tuple[str, ...]
    fingerprint: str

    def estimated_bytes(self) -> int:
        """The decoded data's size in memory (what a broadcast would carry)."""
        n = len(self.train.items) + len(self.test.items)
        if self.image_shape is not None:
            return n * int(np.prod(self.image_shape))
        return n * 4 * max(1, len(self.feature_names))


def detect_form(
    opts: DataOptions, location: Location, flag: str = "--data"
) -> tuple[DataForm, str | None]:
    """The form of the data at ``location`` and its table format.

    Raises:
        ConfigError: nothing there, or neither a folder nor a Parquet/CSV table.
    """
    kind = location.kind()
    if kind == "missing":
        raise ConfigError(
            f"{flag} {location.uri}: no such file or directory (expected a folder of class "
            "subfolders, a Parquet or CSV table, or a built-in name: mnist, fashion-mnist)"
        )
    fmt = tables.table_format(location, kind)
    if fmt is None:
        if kind == "file":
            raise ConfigError(
                f"{flag} {location.uri}: expected a directory of class subfolders or a table "
                "ending in .parquet or .csv"
            )
        return DataForm.FOLDERS, None
    if opts.image_column:
        return DataForm.IMAGE_TABLE, fmt
    if opts.feature_columns:
        return DataForm.FEATURE_TABLE, fmt
    types = tables.columns_of(location, fmt)
    binary = [n for n, t in types.items() if _is_binary(t)]
    return (DataForm.IMAGE_TABLE if binary else DataForm.FEATURE_TABLE), fmt


def _is_binary(arrow_type: Any) -> bool:
    import pyarrow.types as pat

    return bool(pat.is_binary(arrow_type) or pat.is_large_binary(arrow_type))


def image_column(opts: DataOptions, location: Location, fmt: str) -> str:
    """``--image-column``, or the table's one binary column.

    Raises:
        ConfigError: none or several binary columns and no ``--image-column``.
    """
    if opts.image_column:
        return opts.image_column
    binary = [n for n, t in tables.columns_of(location, fmt).items() if _is_binary(t)]
    if len(binary) != 1:
        raise ConfigError(
            f"--data {location.uri}: name the image column with --image-column (binary "
            f"columns: {', '.join(binary) or 'none'})"
        )
    return binary[0]


def label_column(opts: DataOptions, location: Location, fmt: str) -> str:
    """``--label-column``, or a column named ``label``.

    Raises:
        ConfigError: none given and no ``label`` column.
    """
    if opts.label_column:
        return opts.label_column
    names = list(tables.columns_of(location, fmt))
    if "label" in names:
        return "label"
    raise ConfigError(
        f"--data {location.uri} is a table: name its label column with --label-column "
        f"(columns: {', '.join(names)})"
    )


def feature_columns(
    opts: DataOptions, location: Location, fmt: str, label: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``--feature-columns``, or every numeric column but the label and an id column; and
    what the user should know of the columns left out.

    Raises:
        ConfigError: no numeric column, or a column of numbers with a non-numeric cell.
    """
    if opts.feature_columns:
        return tuple(opts.feature_columns), ()
    names = [n for n in tables.columns_of(location, fmt) if n != label]
    if opts.id_column and opts.id_column not in names:
        raise ConfigError(
            f"--id-column {opts.id_column!r} is not a column of --data {location.uri} (columns: "
            f"{', '.join(names)})"
        )
    table = tables.read_columns(location, fmt, names)
    used: list[str] = []
    ids: list[str] = []
    other: list[str] = []
    for name in names:
        col = table.column(name)
        if name == opts.id_column or (tables.is_id_name(name) and tables.unique(col)):
            ids.append(name)
        elif tables.is_numeric(col.type):
            used.append(name)
        else:
            tables.check_not_numbers(col, name, location.uri)
            other.append(name)
    if not used:
        raise ConfigError(
            f"--data {location.uri}: no numeric feature column besides the label {label!r} "
            f"(columns: {', '.join(names)}); name them with --feature-columns"
        )
    left_out = [
        f"{n} (an id: {'--id-column' if n == opts.id_column else 'unique on every row'})"
        for n in ids
    ]
    left_out += [f"{n} (not numeric)" for n in other]
    return tuple(used), tuple(left_out)


@dataclass(frozen=True)
class _Source:
    part: Part
    classes: tuple[str, ...]
    notes: tuple[str, ...]
    fingerprint: str


def _read_source(
    form: DataForm,
    location: Location,
    fmt: str | None,
    opts: DataOptions,
    classes: tuple[str, ...] | None,
    flag: str,
) -> _Source:
    """The labelled examples at ``location`` (classes of the training data when given)."""
    if form is DataForm.FOLDERS:
        folders = read_class_folders(location, flag)
        labels = np.array(folders.labels, dtype=np.int64)
        notes = (f"{folders.ignored} files skipped (not images or outside a class folder)",)
        if classes is not None:
            extra = sorted(set(folders.classes) - set(classes))
            if extra:
                raise ConfigError(
                    f"{flag} {location.uri}: class folder(s) {', '.join(extra)} are not among "
                    f"the training classes ({', '.join(classes)})"
                )
            labels = np.array([classes.index(folders.classes[i]) for i in labels], np.int64)
        items = np.array(folders.files, dtype=object)
        return _Source(
            Part(location, items, labels),
            classes or folders.classes,
            notes if folders.ignored else (),
            folders.fingerprint,
        )
    assert fmt is not None
    label = label_column(opts, location, fmt)
    values = tables.label_values(
        tables.read_columns(location, fmt, [label], flag), label, location.uri
    )
    classes = classes or tables.class_names_of(values)
    labels = tables.encode_labels(values, classes, location.uri)
    rows = np.arange(len(values), dtype=np.int64)
    return _Source(Part(location, rows, labels), classes, (), fingerprint(location))


def make_plan(opts: DataOptions) -> DataPlan:
    """Inspect the data, choose its splits, image size and features.

    Raises:
        ConfigError: the data is missing, of no known form, has fewer than two classes, too few
            examples for its splits, a missing or non-numeric column, or no readable image.
    """
    location = Location(opts.path)
    form, fmt = detect_form(opts, location)
    src = _read_source(form, location, fmt, opts, None, "--data")
    if len(src.classes) < 2:
        raise ConfigError(
            f"--data {opts.path}: found a single class ({', '.join(src.classes)}); "
            "classification needs at least two classes"
        )
    test_fraction = None if opts.test_path else (opts.test_fraction or DEFAULT_TEST_FRACTION)
    parts = split(src.part.labels, test_fraction, opts.val_fraction, opts.seed)
    train = src.part.take(parts.train)
    test = src.part.take(parts.test)
    notes = list(src.notes)
    fingerprint = src.fingerprint
    if opts.test_path:
        test_loc = Location(opts.test_path)
        test_form, test_fmt = detect_form(opts, test_loc, "--test-data")
        if test_form is not form:
            raise ConfigError(
                f"--test-data {opts.test_path} is {test_form.described}, --data {opts.path} "
                f"{form.described}: give both in the same form"
            )
        tsrc = _read_source(form, test_loc, test_fmt, opts, src.classes, "--test-data")
        test, fingerprint = tsrc.part, f"{fingerprint}|{tsrc.fingerprint}"
    if parts.single:
        names = ", ".join(src.classes[c] for c in parts.single)
        notes.append(f"classes with a single example, used for training only: {names}")
    shape: tuple[int, int, int] | None = None
    features: tuple[str, ...] = ()
    if form.images:
        shape = image_shape(opts, train, fmt)
    else:
        assert fmt is not None
        label = label_column(opts, location, fmt)
        features, left_out = feature_columns(opts, location, fmt, label)
        notes.append(f"feature columns: {', '.join(features)}")
        if left_out:
            notes.append(f"columns not used as features: {', '.join(left_out)}")
    return DataPlan(
        form,
        opts,
        fmt,
        src.classes,
        train,
        test,
        parts.n_val,
        shape,
        features,
        tuple(notes),
        fingerprint,
    )


def image_shape(opts: DataOptions, part: Part, fmt: str | None) -> tuple[int, int, int]:
    """``--image-size`` (or the most common size, its long side at most ``DEFAULT_MAX_SIDE``)
    and the channels: 1 when every probed image is grayscale, else 3 (or the model's own).

    Raises:
        ConfigError: none of the probed images is readable.
    """
    from PIL import Image

    step = max(1, len(part.items) // PROBE_IMAGES)
    sizes: Counter[tuple[int, int]] = Counter()
    modes: set[str] = set()
    for _, blob in image_blobs(part.take(np.arange(0, len(part.items), step)), opts, fmt):
        try:
            with Image.open(io.BytesIO(blob or b"")) as img:
                sizes[(img.height, img.width)] += 1
                modes.add(img.mode)
        except Exception:  # unreadable: skipped (and counted) when decoded
            continue
    if not sizes:
        raise ConfigError(f"--data {opts.path}: none of the images probed could be read")
    grey = modes <= {"L", "1", "I", "I;16", "I;16B", "I;16L", "F", "LA"}
    channels = opts.channels or (1 if grey else 3)
    if opts.image_size:
        return (*opts.image_size, channels)
    h, w = sizes.most_common(1)[0][0]
    if max(h, w) > DEFAULT_MAX_SIDE:
        f = DEFAULT_MAX_SIDE / max(h, w)
        h, w = max(1, round(h * f)), max(1, round(w * f))
    return (h, w, channels)


def image_blobs(
    part: Part, opts: DataOptions, fmt: str | None
) -> Iterator[tuple[str, bytes | None]]:
    """``(name, encoded image or None when unreadable)`` of each example of ``part``."""
    if fmt is None:  # class folders: items are file paths
        fs, root = part.location.resolve()
        for path in part.items:  # named relative to the data's folder
            yield str(path)[len(root) :].lstrip("/"), _read(fs, str(path))
        return
    column = image_column(opts, part.location, fmt)
    values = tables.read_columns(part.location, fmt, [column]).column(column)
    values = values.take(part.items).to_pylist()
    base = Location(
        part.location.uri.rstrip("/").rsplit("/", 1)[0] if "/" in part.location.uri else "."
    )
    for row, value in zip(part.items, values, strict=True):
        if isinstance(value, str):
            loc = base.child(value)
            fs, path = loc.resolve()
            yield value, _read(fs, path)
        else:
            yield f"row {row}", value


def _read(fs: Any, path: str) -> bytes | None:
    try:
        return read_bytes(fs, path)
    except OSError:
        return None
