"""``export_images(class_folders=True)`` (``sparktf data export-images --class-folders``) writes
the layout ``sparktf tune --data DIR`` reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sparktf.datasets import export_images
from sparktf.datasets.materialize import materialize
from sparktf.datasets.plan import DataOptions, make_plan


def test_class_folders_export_reads_back_as_data(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (30, 28, 28), dtype=np.uint8)
    labels = np.arange(30) % 3
    export_images(
        images, labels, tmp_path / "out", ("T-shirt/top", "Trouser", "Bag"), class_folders=True
    )
    assert (tmp_path / "out" / "T-shirt_top" / "00000.png").is_file()
    plan = make_plan(DataOptions(str(tmp_path / "out")))
    assert plan.class_names == ("Bag", "T-shirt_top", "Trouser")
    assert plan.image_shape == (28, 28, 1) and "1 files skipped" in plan.notes[0]  # labels.csv
    data, skipped = materialize(plan)
    assert skipped.count == 0 and len(data.x_train) + len(data.x_test) == 30
