"""Class labels: the 1000 ImageNet classes shipped with sparktf, and user label files.

The ImageNet file is Keras' own ``imagenet_class_index.json`` (``{"0": ["n01440764", "tench"],
...}``, byte-identical, MD5 ``c2c37ea517e94d9795004a39431a14cb``), so the names match
``keras.applications.imagenet_utils.decode_predictions`` without a download.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

from sparktf.errors import ConfigError

IMAGENET_INDEX = "imagenet_class_index.json"


@lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet class names in class-index order (``tench``, ``goldfish``, ...)."""
    text = (resources.files("sparktf") / "resources" / IMAGENET_INDEX).read_text("utf-8")
    return _labels_from_json(json.loads(text), IMAGENET_INDEX)


@lru_cache(maxsize=1)
def imagenet_synsets() -> tuple[str, ...]:
    """The 1000 WordNet ids (``n01440764``, ...) in class-index order."""
    text = (resources.files("sparktf") / "resources" / IMAGENET_INDEX).read_text("utf-8")
    data = json.loads(text)
    return tuple(str(data[str(i)][0]) for i in range(len(data)))


def _labels_from_json(data: object, source: str) -> tuple[str, ...]:
    if isinstance(data, list):
        return tuple(str(x) for x in data)
    if isinstance(data, dict):
        try:
            keys = sorted(data, key=int)
        except ValueError as exc:
            raise ConfigError(
                f"label file {source}: a JSON object must map class indices to names "
                '({"0": "cat", ...} or Keras\' {"0": ["n01440764", "tench"], ...})'
            ) from exc
        if [int(k) for k in keys] != list(range(len(keys))):
            raise ConfigError(f"label file {source}: class indices must be 0..{len(keys) - 1}")
        out = []
        for k in keys:
            v = data[k]
            out.append(str(v[-1]) if isinstance(v, list) and v else str(v))
        return tuple(out)
    raise ConfigError(f"label file {source}: expected a JSON list or object, got {type(data)}")


def read_labels(path: str | Path) -> tuple[str, ...]:
    """Read class labels from a file.

    Accepted forms: plain text with one label per line (blank lines at the end ignored), a JSON
    list of names, or a JSON object mapping class index to a name or to ``[synset, name]``.

    Args:
        path: the label file.

    Returns:
        The labels in class-index order.

    Raises:
        ConfigError: the file is missing, unreadable or empty.
    """
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read label file {p}: {exc.strerror or exc} "
            "(expected a text file with one label per line, in class-index order)"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"label file {p} is not UTF-8 text: {exc}") from exc
    stripped = text.strip()
    if stripped.startswith(("[", "{")):
        try:
            labels = _labels_from_json(json.loads(stripped), str(p))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"label file {p} looks like JSON but is not: {exc}") from exc
    else:
        labels = tuple(line.strip() for line in text.rstrip("\n\r ").splitlines())
    if not labels:
        raise ConfigError(f"label file {p} is empty: expected one label per class")
    return labels
