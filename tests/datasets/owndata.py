"""Synthetic learnable data made by the tests: class folders of images that differ in colour and
shape, tables of image bytes, and separable tables of numeric features."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (40, 50, 220)}


def shape_image(cls: int, rng: np.random.Generator, size: int = 16) -> np.ndarray:
    """A uint8 RGB image of class ``cls``: its colour and a square (0), bar (1) or cross (2)."""
    colour = np.array(list(COLOURS.values())[cls % len(COLOURS)], dtype=np.float64)
    img = rng.normal(60, 15, (size, size, 3))
    q = size // 4
    mask = np.zeros((size, size), dtype=bool)
    if cls % 3 == 0:
        mask[q : 3 * q, q : 3 * q] = True
    elif cls % 3 == 1:
        mask[:, size // 2 - 2 : size // 2 + 2] = True
    else:
        mask[size // 2 - 2 : size // 2 + 2, :] = True
        mask[:, size // 2 - 2 : size // 2 + 2] = True
    img[mask] = colour + rng.normal(0, 10, (mask.sum(), 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def png(arr: np.ndarray, mode: str | None = None, size: int | None = None) -> bytes:
    img = Image.fromarray(arr)
    if mode:
        img = img.convert(mode)
    if size:
        img = img.resize((size, size))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def class_folders(
    root: Path,
    per_class: int = 12,
    classes: Sequence[str] = tuple(COLOURS),
    size: int = 16,
    seed: int = 0,
    mixed: bool = False,
) -> Path:
    """``root/<class>/NNN.png``; with ``mixed``, some images are larger, grey or RGBA."""
    rng = np.random.default_rng(seed)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            mode = size_ = None
            if mixed and i % 3 == 1:
                mode, size_ = "RGBA", size * 2
            (root / name / f"{i:03d}.png").write_bytes(png(shape_image(c, rng, size), mode, size_))
    return root


def image_table(path: Path, per_class: int = 12, seed: int = 0, as_paths: bool = False) -> Path:
    """A Parquet table of ``image`` (PNG bytes, or file paths beside it) and ``label``."""
    rng = np.random.default_rng(seed)
    rows = []
    for c, name in enumerate(COLOURS):
        for i in range(per_class):
            blob = png(shape_image(c, rng))
            if as_paths:
                f = path.parent / "imgs" / f"{name}{i}.png"
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_bytes(blob)
                rows.append({"image": f"imgs/{f.name}", "label": name})
            else:
                rows.append({"image": blob, "label": name})
    pd.DataFrame(rows).to_parquet(path)
    return path


def feature_frame(n: int = 150, seed: int = 0) -> pd.DataFrame:
    """Three separable classes in 4 features of very different scales, an id and a name."""
    rng = np.random.default_rng(seed)
    label = np.arange(n) % 3
    centres = np.array([[0, 0], [4, 0], [0, 4]], dtype=np.float64)
    xy = centres[label] + rng.normal(0, 0.6, (n, 2))
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:04d}" for i in range(n)],
            "income": xy[:, 0] * 1000 + 50_000,  # large scale: standardisation matters
            "age": xy[:, 1] * 0.01 + 40,  # tiny scale
            "noise": rng.normal(0, 1, n),
            "visits": rng.integers(0, 5, n),
            "segment": np.array(["gold", "silver", "bronze"])[label],
        }
    )
