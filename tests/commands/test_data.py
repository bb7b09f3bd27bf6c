"""``sparktf data export-images`` and ``data info`` on generated IDX files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sparktf.cli import main
from sparktf.datasets import load


def test_export_images_writes_readable_pngs_equal_to_source(
    tiny_data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pngs"
    code = main(
        [
            "data",
            "export-images",
            "mnist",
            str(out),
            "--limit",
            "7",
            "--data-dir",
            str(tiny_data_dir),
            "--no-download",
        ]
    )
    assert code == 0
    ds = load("mnist", data_dir=tiny_data_dir, download=False)
    rows = list(csv.DictReader((out / "labels.csv").open()))
    assert len(rows) == 7 and len(list(out.glob("*.png"))) == 7
    for row in rows:
        i = int(row["index"])
        with Image.open(out / row["file"]) as img:
            assert img.format == "PNG" and img.mode == "L"
            np.testing.assert_array_equal(np.asarray(img), ds.x_test[i])
        assert int(row["label"]) == int(ds.y_test[i])


def test_export_train_split_limit_larger_than_split(tiny_data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "train"
    assert (
        main(
            [
                "data",
                "export-images",
                "mnist",
                str(out),
                "--split",
                "train",
                "--limit",
                "1000",
                "--data-dir",
                str(tiny_data_dir),
                "--no-download",
            ]
        )
        == 0
    )
    assert len(list(out.glob("*.png"))) == 60


def test_export_rejects_non_positive_limit(
    tiny_data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code = main(
        [
            "data",
            "export-images",
            "mnist",
            str(tmp_path / "x"),
            "--limit",
            "0",
            "--data-dir",
            str(tiny_data_dir),
        ]
    )
    assert code == 2
    assert "--limit must be a positive number" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_info_on_missing_data_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("SPARKTF_DATA", raising=False)
    code = main(["data", "info", "mnist", "--data-dir", str(tmp_path / "none"), "--no-download"])
    assert code == 1
    err = capsys.readouterr().err
    assert "mnist data set was not found" in err and str(tmp_path / "none") in err


def test_info_prints_shapes(tiny_data_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "info", "mnist", "--data-dir", str(tiny_data_dir)]) == 0
    out = capsys.readouterr().out
    assert "train: images (60, 28, 28)" in out and "test:  images (20, 28, 28)" in out
