"""A directory of class subfolders of images (Keras' ``image_dataset_from_directory`` layout)."""

from __future__ import annotations

from dataclasses import dataclass

from sparktf.datasets.files import Location, listing, summary
from sparktf.errors import ConfigError

IMAGE_SUFFIXES = frozenset({"jpg", "jpeg", "png", "gif", "bmp", "webp", "tif", "tiff"})


@dataclass(frozen=True)
class ClassFolders:
    """The images of a class-folder directory.

    Attributes:
        classes: the subfolder names, sorted (index = class).
        files: every image file, sorted.
        labels: each file's class index.
        ignored: files that are not images by their suffix, or lie outside a class folder.
        fingerprint: file count, bytes and the newest change (to notice the data changed).
    """

    classes: tuple[str, ...]
    files: tuple[str, ...]
    labels: tuple[int, ...]
    ignored: int
    fingerprint: str


def _is_image(path: str) -> bool:
    return path.rsplit(".", 1)[-1].lower() in IMAGE_SUFFIXES


def _subfolders(fs: object, root: str) -> list[str]:
    import pyarrow.fs as pafs

    infos = fs.get_file_info(pafs.FileSelector(root, recursive=False))  # type: ignore[attr-defined]
    return sorted(
        i.base_name
        for i in infos
        if i.type == pafs.FileType.Directory and not i.base_name.startswith((".", "_"))
    )


def read_class_folders(location: Location, flag: str = "--data") -> ClassFolders:
    """List the class folders under ``location`` and their images.

    Raises:
        ConfigError: no class folder, or a class folder without images.
    """
    fs, root = location.resolve()
    classes = _subfolders(fs, root)
    if not classes:
        raise ConfigError(
            f"{flag} {location.uri}: expected one subfolder of images per class "
            "(photos/cat/*.jpg, photos/dog/*.jpg), found no subfolder"
        )
    index = {c: i for i, c in enumerate(classes)}
    files: list[str] = []
    labels: list[int] = []
    used: list[tuple[str, int, float]] = []
    ignored = 0
    for entry in listing(fs, root):
        parts = entry[0][len(root) :].lstrip("/").split("/")
        if len(parts) < 2 or parts[0] not in index or not _is_image(entry[0]):
            ignored += 1
            continue
        files.append(entry[0])
        labels.append(index[parts[0]])
        used.append(entry)
    empty = [c for c in classes if index[c] not in set(labels)]
    if empty:
        raise ConfigError(
            f"{flag} {location.uri}: class folder(s) {', '.join(empty)} hold no images "
            f"(suffixes {', '.join(sorted(IMAGE_SUFFIXES))}): add images or remove the folder"
        )
    return ClassFolders(tuple(classes), tuple(files), tuple(labels), ignored, summary(used))
