"""Image-file inputs: every file Spark lists is a row, zero-byte files included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sparktf.errors import ConfigError
from sparktf.inference.inputs import files_input


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_every_listed_file_is_a_row_even_with_awkward_names(spark: Any, tmp_path: Path) -> None:
    for name in ("a.png", "b c.png", "sub/d.png", "x, y.png", "sub/e, f.png"):
        _write(tmp_path / "imgs" / name, b"x")
    rows = files_input(spark, str(tmp_path / "imgs")).df.collect()
    assert sorted(Path(r["id"].removeprefix("file:")).name for r in rows) == [
        "a.png",
        "b c.png",
        "d.png",
        "e, f.png",
        "x, y.png",
    ]


def test_zero_byte_files_keep_their_rows(spark: Any, tmp_path: Path) -> None:
    _write(tmp_path / "imgs" / "full.png", b"not really a png")
    _write(tmp_path / "imgs" / "empty, too.png", b"")
    _write(tmp_path / "imgs" / "empty.png", b"")
    rows = files_input(spark, str(tmp_path / "imgs")).df.collect()
    by_name = {Path(r["id"]).name: bytes(r["content"]) for r in rows}
    assert by_name == {"full.png": b"not really a png", "empty, too.png": b"", "empty.png": b""}


@pytest.mark.parametrize("pattern", ["*.{gif,bmp}", "**/*.{gif,bmp}"])
def test_a_pattern_only_spark_can_expand_that_matches_nothing_is_refused(
    spark: Any, tmp_path: Path, pattern: str
) -> None:
    _write(tmp_path / "imgs" / "a.png", b"x")
    source = f"{tmp_path / 'imgs'}/{pattern}"
    with pytest.raises(ConfigError) as info:
        files_input(spark, source)
    assert f"input pattern {source!r} matches no file" in str(info.value)
