"""MNIST and Fashion-MNIST: find the IDX files locally, or download and verify them.

Where the files are looked for, in order: an explicit ``data_dir``, ``$SPARKTF_DATA`` (the
directory itself or its ``<dataset>/`` subdirectory), Debian's package location (Fashion-MNIST:
``/usr/share/datasets/fashion-mnist/``), the user cache (``$XDG_CACHE_HOME/sparktf/<dataset>``),
and finally a download from the canonical public mirrors, checked by SHA-256, into the cache.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sparktf.datasets.idx import read_idx
from sparktf.errors import ConfigError, DataError
from sparktf.fileio import write_atomic

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class DatasetSpec:
    """Where a data set's four IDX files come from.

    Attributes:
        name: the data set's name (``mnist``, ``fashion-mnist``).
        sha256: SHA-256 of each ``.gz`` file as published on the mirrors.
        mirrors: base URLs, tried in order.
        system_dirs: directories where an OS package installs the files.
        class_names: human-readable label names, index = class.
    """

    name: str
    sha256: dict[str, str]
    mirrors: tuple[str, ...]
    system_dirs: tuple[Path, ...] = ()
    class_names: tuple[str, ...] = field(default=tuple(str(i) for i in range(10)))


MNIST = DatasetSpec(
    name="mnist",
    sha256={
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
        ),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
        ),
    },
    mirrors=(
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
    ),
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    sha256={
        "train-images-idx3-ubyte.gz": (
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
        ),
        "train-labels-idx1-ubyte.gz": (
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
        ),
    },
    mirrors=(
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
    system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
)

DATASETS: dict[str, DatasetSpec] = {"mnist": MNIST, "fashion-mnist": FASHION_MNIST}


@dataclass(frozen=True)
class ImageDataset:
    """A labelled image data set split into train and test arrays.

    Attributes:
        name: the data set's name.
        x_train: uint8 images, shape (n, 28, 28).
        y_train: uint8 labels, shape (n,).
        x_test: uint8 images, shape (m, 28, 28).
        y_test: uint8 labels, shape (m,).
        class_names: label names, index = class.
        source: the directory the files were read from.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str

    def split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(images, labels)`` of ``"train"`` or ``"test"``."""
        if split == "train":
            return self.x_train, self.y_train
        if split == "test":
            return self.x_test, self.y_test
        raise ConfigError(f"unknown split {split!r}: expected 'train' or 'test'")


def get_spec(name: str) -> DatasetSpec:
    """The spec of a known data set by name (``mnist``, ``fashion-mnist``, or ``fashion``)."""
    key = name.lower().replace("_", "-")
    key = "fashion-mnist" if key == "fashion" else key
    if key not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}: expected one of {', '.join(DATASETS)}")
    return DATASETS[key]


def cache_dir() -> Path:
    """sparktf's user cache directory (``$XDG_CACHE_HOME/sparktf`` or ``~/.cache/sparktf``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sparktf"


def _find_in(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def _complete_dir(directory: Path) -> dict[str, Path] | None:
    found = {}
    for stems in SPLIT_FILES.values():
        for stem in stems:
            p = _find_in(directory, stem)
            if p is None:
                return None
            found[stem] = p
    return found


def _candidate_dirs(spec: DatasetSpec, data_dir: str | Path | None) -> list[tuple[str, Path]]:
    dirs: list[tuple[str, Path]] = []
    if data_dir is not None:
        dirs.append(("data_dir argument", Path(data_dir)))
    env = os.environ.get("SPARKTF_DATA")
    if env:
        dirs.append(("$SPARKTF_DATA", Path(env) / spec.name))
        dirs.append(("$SPARKTF_DATA", Path(env)))
    dirs.extend(("system package", d) for d in spec.system_dirs)
    dirs.append(("user cache", cache_dir() / spec.name))
    return dirs


def _download(spec: DatasetSpec, target: Path, timeout: float) -> list[str]:
    """Download missing files into ``target``; return the failures (empty when all worked)."""
    failures: list[str] = []
    target.mkdir(parents=True, exist_ok=True)
    for fname, digest in spec.sha256.items():
        dest = target / fname
        if dest.is_file() and hashlib.sha256(dest.read_bytes()).hexdigest() == digest:
            continue
        ok = False
        for base in spec.mirrors:
            url = base + fname
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    payload = resp.read()
            except (urllib.error.URLError, OSError, ValueError) as exc:
                failures.append(f"{url}: {getattr(exc, 'reason', exc)}")
                continue
            got = hashlib.sha256(payload).hexdigest()
            if got != digest:
                failures.append(f"{url}: SHA-256 {got} does not match the expected {digest}")
                continue
            write_atomic(dest, payload)
            ok = True
            break
        if not ok:
            return failures
    return []


def locate(
    spec: DatasetSpec,
    data_dir: str | Path | None = None,
    download: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Find (or download) a directory holding all four IDX files of ``spec``.

    Raises:
        DataError: the files are nowhere and could not be downloaded; the message lists every
            place looked at and how to provide the files.
    """
    looked = _candidate_dirs(spec, data_dir)
    for _, directory in looked:
        if _complete_dir(directory) is not None:
            return directory
    cache = cache_dir() / spec.name
    failures = _download(spec, cache, timeout) if download else ["download disabled"]
    if not failures and _complete_dir(cache) is not None:
        return cache
    places = "".join(f"  - {label}: {d}\n" for label, d in looked)
    tried = "".join(f"  - {f}\n" for f in failures)
    names = ", ".join(spec.sha256)
    raise DataError(
        f"the {spec.name} data set was not found.\nLooked in:\n{places}"
        f"Download from the public mirrors failed:\n{tried}"
        f"To provide the files ({names}, gzipped or not), either:\n"
        f"  - put them in one of the directories above, or pass data_dir=/--data-dir DIR,\n"
        f"  - set SPARKTF_DATA=DIR (DIR or DIR/{spec.name} holding the files),\n"
        + (
            "  - on Debian/Ubuntu: apt-get install dataset-fashion-mnist\n"
            if spec.name == "fashion-mnist"
            else ""
        )
        + "  - or run again where the network reaches the mirrors."
    )


def load_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read matching image and label IDX files.

    Raises:
        DataError: a file is malformed or the counts differ.
    """
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3:
        raise DataError(
            f"{images_path}: expected images of shape (n, rows, cols), got {images.shape}"
        )
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: expected labels of shape (n,), got {labels.shape}")
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels; the two files must come from the same split"
        )
    return images, labels


def load(
    name: str | DatasetSpec,
    data_dir: str | Path | None = None,
    download: bool = True,
    splits: Sequence[str] = ("train", "test"),
) -> ImageDataset:
    """Load a data set by name or spec.

    Args:
        name: ``"mnist"``, ``"fashion-mnist"`` or a :class:`DatasetSpec`.
        data_dir: a directory to look in first.
        download: allow downloading from the mirrors when the files are nowhere local.
        splits: the splits to read (a split left out comes back empty).

    Returns:
        The data set.

    Raises:
        DataError: files missing and not downloadable, or malformed.
    """
    spec = name if isinstance(name, DatasetSpec) else get_spec(name)
    directory = locate(spec, data_dir=data_dir, download=download)
    files = _complete_dir(directory)
    assert files is not None  # locate() returned a complete directory
    arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    empty = (np.zeros((0, 28, 28), np.uint8), np.zeros((0,), np.uint8))
    for split, (img, lab) in SPLIT_FILES.items():
        arrays[split] = load_idx_pair(files[img], files[lab]) if split in splits else empty
    return ImageDataset(
        name=spec.name,
        x_train=arrays["train"][0],
        y_train=arrays["train"][1],
        x_test=arrays["test"][0],
        y_test=arrays["test"][1],
        class_names=spec.class_names,
        source=str(directory),
    )


def load_mnist(data_dir: str | Path | None = None, download: bool = True) -> ImageDataset:
    """Load MNIST (see :func:`load` for where it looks)."""
    return load(MNIST, data_dir=data_dir, download=download)


def load_fashion_mnist(data_dir: str | Path | None = None, download: bool = True) -> ImageDataset:
    """Load Fashion-MNIST (see :func:`load` for where it looks)."""
    return load(FASHION_MNIST, data_dir=data_dir, download=download)
