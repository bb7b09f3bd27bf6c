"""Image-file inputs: Spark's listing of the input files, fetched from the JVM in one go."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sparktf.errors import ConfigError
from sparktf.inference.inputs import _input_files, files_input


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_input_files_equal_spark_listing_even_with_awkward_names(
    spark: Any, tmp_path: Path
) -> None:
    for name in ("a.png", "b c.png", "sub/d.png"):
        _write(tmp_path / "plain" / name, b"x")
    df = spark.read.format("binaryFile").option("recursiveFileLookup", "true")
    plain = df.load(str(tmp_path / "plain"))
    assert sorted(_input_files(plain)) == sorted(plain.inputFiles())
    assert len(_input_files(plain)) == 3

    # ", " inside a name makes the fast text form ambiguous: the public listing is used
    _write(tmp_path / "odd" / "x, y.png", b"x")
    _write(tmp_path / "odd" / "z.png", b"x")
    odd = df.load(str(tmp_path / "odd"))
    assert sorted(_input_files(odd)) == sorted(odd.inputFiles())
    assert len(_input_files(odd)) == 2


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
