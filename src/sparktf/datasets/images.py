"""Write data set splits as image files (PNG) with a labels CSV, for demos and tests."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from sparktf.errors import ConfigError


def export_images(
    images: np.ndarray,
    labels: np.ndarray,
    out_dir: str | Path,
    class_names: Sequence[str] | None = None,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
    class_folders: bool = False,
) -> Path:
    """Write each image as ``out_dir/NNNNN.png`` and a ``labels.csv`` beside them.

    With ``class_folders``, each image goes to ``out_dir/<class name>/NNNNN.png`` instead (the
    layout ``sparktf tune --data DIR`` reads; a ``/`` in a class name becomes ``_``).

    Args:
        images: uint8 array of shape (n, rows, cols) (grayscale) or (n, rows, cols, 3).
        labels: integer labels, shape (n,).
        out_dir: the directory to write into (created if needed).
        class_names: names of the classes, for the CSV's ``label_name`` column.
        limit: write only the first ``limit`` images.
        progress: called with the number of images written after each one.
        class_folders: one subfolder per class.

    Returns:
        The path of ``labels.csv`` (columns: ``file``, ``index``, ``label``, ``label_name``).

    Raises:
        ConfigError: ``limit`` is not positive.
    """
    if limit is not None and limit <= 0:
        raise ConfigError(f"--limit must be a positive number of images, got {limit}")
    n = len(images) if limit is None else min(limit, len(images))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    width = max(5, len(str(n)))
    csv_path = out / "labels.csv"
    with csv_path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "index", "label", "label_name"])
        for i in range(n):
            label = int(labels[i])
            label_name = class_names[label] if class_names else str(label)
            name = f"{i:0{width}d}.png"
            if class_folders:
                name = f"{label_name.replace('/', '_')}/{name}"
                (out / name).parent.mkdir(exist_ok=True)
            Image.fromarray(np.asarray(images[i], dtype=np.uint8)).save(out / name)
            writer.writerow([name, i, label, label_name])
            if progress is not None:
                progress(i + 1)
    return csv_path
