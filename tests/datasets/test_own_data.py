"""``--data PATH`` planning and decoding: forms, classes, splits, image size, and bad data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sparktf.datasets.materialize import materialize
from sparktf.datasets.plan import DataForm, DataOptions, make_plan
from sparktf.datasets.remote import PathData
from sparktf.errors import ConfigError
from tests.datasets.owndata import class_folders, feature_frame, image_table


def test_class_folders_keep_names_split_and_decode_mixed_images(tmp_path: Path) -> None:
    root = class_folders(tmp_path / "photos", per_class=10, mixed=True)  # RGBA, 32x32 among 16x16
    (root / "red" / "notes.txt").write_text("not an image")
    (root / "green" / "broken.png").write_bytes(b"\x89PNG truncated")
    plan = make_plan(DataOptions(str(root), seed=1))
    assert plan.form is DataForm.FOLDERS
    assert plan.class_names == ("blue", "green", "red")
    assert plan.image_shape == (16, 16, 3)  # the most common size; colour
    assert len(plan.train.items) + len(plan.test.items) == 31
    assert "1 files skipped" in plan.notes[0]
    data, skipped = materialize(plan)
    assert data.x_train.dtype == np.uint8 and data.x_train.shape[1:] == (16, 16, 3)
    assert skipped.count == 1 and "broken.png" in skipped.examples[0]
    assert len(data.x_train) + len(data.x_test) == 30  # nothing else lost
    assert set(data.y_test) == {0, 1, 2}


def test_image_size_and_grayscale(tmp_path: Path) -> None:
    root = class_folders(tmp_path / "p", per_class=6)
    plan = make_plan(DataOptions(str(root), image_size=(8, 12), channels=1))
    data, _ = materialize(plan)
    assert data.x_train.shape[1:] == (8, 12, 1)


@pytest.mark.parametrize("as_paths", [False, True])
def test_image_tables_of_bytes_or_paths(tmp_path: Path, as_paths: bool) -> None:
    table = image_table(tmp_path / "images.parquet", per_class=8, as_paths=as_paths)
    opts = DataOptions(str(table), image_column="image" if as_paths else None)
    plan = make_plan(opts)
    assert plan.form is DataForm.IMAGE_TABLE
    assert plan.class_names == ("blue", "green", "red")
    data, skipped = materialize(plan)
    assert skipped.count == 0 and data.x_train.shape[1:] == (16, 16, 3)


def test_feature_table_uses_numeric_columns_and_says_which_not(tmp_path: Path) -> None:
    feature_frame(60).to_csv(tmp_path / "t.csv", index=False)
    plan = make_plan(DataOptions(str(tmp_path / "t.csv"), label_column="segment"))
    assert plan.form is DataForm.FEATURE_TABLE
    assert plan.feature_names == ("income", "age", "noise", "visits")
    assert any("customer_id" in n for n in plan.notes)
    data, _ = materialize(plan)
    assert data.x_train.shape == (48, 4) and data.x_test.shape == (12, 4)


def test_read_from_path_gives_the_same_data_and_caches_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPARKTF_DATA_CACHE", str(tmp_path / "cache"))
    plan = make_plan(DataOptions(str(class_folders(tmp_path / "p", per_class=6))))
    direct, _ = materialize(plan)
    handle = PathData(plan)
    first, stats1 = handle.read_with_stats()
    second, stats2 = handle.read_with_stats()
    assert not stats1.from_cache and stats2.from_cache
    for got in (first, second):
        assert np.array_equal(got.x_train, direct.x_train)
        assert np.array_equal(got.y_test, direct.y_test)
        assert got.class_names == direct.class_names


def _table(tmp_path: Path, **columns: list[object]) -> str:
    path = tmp_path / "t.parquet"
    pd.DataFrame(columns).to_parquet(path)
    return str(path)


def _csv(tmp_path: Path, text: str) -> str:
    path = tmp_path / "t.csv"
    path.write_text(text)
    return str(path)


_ROWS = "".join(f"{i},{i % 2},{i * 0.5},{'yes' if i % 2 else 'no'}\n" for i in range(8))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (  # an empty label cell is a missing label, not a class named ""
            "id,f0,f1,y\n" + _ROWS.replace(",no\n", ",\n", 1),
            r"1 of 8 rows have no 'y' label \(row 1, counting data rows from 1\)",
        ),
        (
            "id,f0,f1,y\n" + _ROWS.replace(",0,0.0,", ",0,,", 1) + "9,1,2.0, \n",
            r"1 of 9 rows have no 'y' label \(row 9,",
        ),
        (  # one typo in a numeric column refuses it instead of dropping the feature
            "id,f0,f1,y\n" + _ROWS.replace("1.5", "abc"),
            r"column 'f1' holds numbers, but row 4 holds 'abc'",
        ),
    ],
)
def test_a_csv_with_a_missing_label_or_a_non_numeric_cell_is_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make_plan(DataOptions(_csv(tmp_path, text), label_column="y"))


def test_an_id_column_is_not_a_feature_unless_named_as_one(tmp_path: Path) -> None:
    path = _csv(tmp_path, "customer_id,f0,f1,y\n" + _ROWS)
    plan = make_plan(DataOptions(path, label_column="y"))
    assert plan.feature_names == ("f0", "f1")
    assert "feature columns: f0, f1" in plan.notes
    assert any("customer_id (an id: unique on every row)" in n for n in plan.notes)
    given = make_plan(DataOptions(path, label_column="y", id_column="f0"))
    assert given.feature_names == ("f1",)
    assert any("f0 (an id: --id-column)" in n for n in given.notes)
    chosen = make_plan(DataOptions(path, label_column="y", feature_columns=("customer_id", "f0")))
    assert chosen.feature_names == ("customer_id", "f0")  # --feature-columns wins


def test_a_chosen_feature_column_with_a_typo_names_its_row(tmp_path: Path) -> None:
    path = _csv(tmp_path, "n,f0,f1,y\n" + _ROWS.replace("2.5", "abc"))
    plan = make_plan(DataOptions(path, label_column="y", feature_columns=("f0", "f1")))
    with pytest.raises(ConfigError, match=r"column 'f1' holds numbers, but row 6 holds 'abc'"):
        materialize(plan)


@pytest.mark.parametrize(
    ("make", "opts", "message"),
    [
        (lambda t: str(class_folders(t / "p", classes=("a",))), {}, "a single class"),
        (lambda t: str(t / "nothing"), {}, "no such file or directory"),
        (lambda t: str((t / "x.txt").write_text("x") and t / "x.txt"), {}, "ending in .parquet"),
        (
            lambda t: _table(t, f=[1.0, 2.0, 3.0, 4.0], y=[0, 1, 0, 1]),
            {"label_column": "churned"},
            r"has no column 'churned'; its columns: f, y",
        ),
        (
            lambda t: _table(t, f=[1.0, 2.0, 3.0, 4.0], y=[0, 1, 0, 1]),
            {},
            "name its label column with --label-column",
        ),
        (
            lambda t: _table(t, f=["a", "b", "c", "d"] * 3, y=[0, 1, 0] * 4),
            {"label_column": "y", "feature_columns": ("f",)},
            "feature column 'f' is not numeric",
        ),
        (
            lambda t: _table(t, f=[1.0] * 6, y=[0, 1, None, 1, 0, 1]),
            {"label_column": "y"},
            "1 of 6 rows have no 'y' label",
        ),
        (
            lambda t: _table(t, f=[1.0, 2.0, 3.0], y=["a", "b", "c"]),
            {"label_column": "y"},
            "keeping one of each of the 3 classes",
        ),
    ],
)
def test_bad_data_is_a_clear_error(tmp_path: Path, make, opts, message: str) -> None:
    path = make(tmp_path)
    with pytest.raises(ConfigError, match=message):
        data = make_plan(DataOptions(path, **opts))
        materialize(data)


def test_an_empty_class_folder_is_named(tmp_path: Path) -> None:
    root = class_folders(tmp_path / "p", per_class=4)
    (root / "yellow").mkdir()
    with pytest.raises(ConfigError, match=r"class folder\(s\) yellow hold no images"):
        make_plan(DataOptions(str(root)))


def test_test_data_must_have_the_training_classes(tmp_path: Path) -> None:
    train = class_folders(tmp_path / "train", per_class=5)
    test = class_folders(tmp_path / "test", per_class=2, classes=("red", "purple"))
    with pytest.raises(ConfigError, match="purple are not among the training classes"):
        make_plan(DataOptions(str(train), test_path=str(test)))
    ok = class_folders(tmp_path / "test2", per_class=2, classes=("red", "blue"))
    plan = make_plan(DataOptions(str(train), test_path=str(ok)))
    assert len(plan.test.items) == 4 and len(plan.train.items) == 15
    assert set(plan.test.labels) == {0, 2}  # blue, red of (blue, green, red)
