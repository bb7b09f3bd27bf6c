"""The checkpoint store on its own: atomic commits, the newest kept, a checkpoint checked
against its trial, folders, and the error line of a Spark task's failure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sparktf.errors import ConfigError
from sparktf.execution.checkpoints import CheckpointPlace, check_store_url, check_writable
from sparktf.search.record import error_line
from sparktf.trial import get_checkpoint
from sparktf.trial.context import TrialContext, trial_context


class Listener:  # the driver's side of the report channel: never says stop
    def announce_measures(self, measures: dict[str, float]) -> None:
        pass

    def report(self, step: int, value: float) -> bool:
        return False


def test_only_the_newest_committed_checkpoint_is_kept_and_read(tmp_path: Path) -> None:
    place = CheckpointPlace(str(tmp_path), "study")
    ckpts = place.for_trial(3, {"lr": 0.1})
    assert ckpts.latest() is None
    ckpts.save(1, {"w": np.arange(3)}, {"epoch": 1})
    ckpts.save(2, {"w": np.arange(3) * 2}, {"epoch": 2})
    dirs = list((tmp_path / "study" / "trial-3").iterdir())
    assert len(dirs) == 1, "older checkpoints are removed"
    # a writer that died before its marker: not a checkpoint
    (tmp_path / "study" / "trial-3" / "step-000009-dead").mkdir()
    ckpt = ckpts.latest()
    assert ckpt is not None and ckpt.step == 2 and ckpt.meta == {"epoch": 2}
    assert ckpt.arrays["w"].tolist() == [0, 2, 4]
    ckpts.clear()
    assert ckpts.latest() is None and not (tmp_path / "study" / "trial-3").exists()


def test_a_checkpoint_of_another_trial_or_other_params_is_not_used(tmp_path: Path) -> None:
    place = CheckpointPlace(f"file://{tmp_path}", "study")
    place.for_trial(1, {"lr": 0.1}).save(4, {"w": np.ones(2)})
    assert place.for_trial(1, {"lr": 0.2}).latest() is None
    moved = tmp_path / "study" / "trial-2"
    (tmp_path / "study" / "trial-1").rename(moved)
    assert place.for_trial(2, {"lr": 0.1}).latest() is None
    assert CheckpointPlace(str(tmp_path), "other").for_trial(1, {"lr": 0.1}).latest() is None


def test_a_saved_folder_comes_back_and_arrays_never_unpickle(tmp_path: Path) -> None:
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "weights.bin").write_bytes(b"\x00\x01")
    ckpts = CheckpointPlace(str(tmp_path / "store"), "s").for_trial(0, {})
    ckpts.save(1, directory=src)
    with trial_context(TrialContext(0, {}, Listener(), checkpoints=ckpts)):
        ckpt = get_checkpoint()
        assert ckpt is not None and ckpt.directory is not None
        assert (ckpt.directory / "sub" / "weights.bin").read_bytes() == b"\x00\x01"
    assert not ckpt.directory.exists()  # the attempt's local copy goes with it
    with pytest.raises(TypeError, match="holds Python objects"):
        ckpts.save(2, {"o": np.array([{"a": 1}], dtype=object)})
    # one written by other means is passed over, never unpickled
    marker = next((tmp_path / "store" / "s" / "trial-0").glob("*/checkpoint.json"))
    np.savez(marker.parent / "arrays.npz", o=np.array([{"a": 1}], dtype=object))
    text = marker.read_text().replace('"arrays": []', '"arrays": ["o"]')
    marker.write_text(text)
    assert ckpts.latest() is None


def test_store_urls_are_checked_without_touching_the_store(tmp_path: Path) -> None:
    check_store_url("s3://bucket/ckpt")
    check_store_url(str(tmp_path))
    with pytest.raises(ConfigError, match="unknown filesystem 'ftp'"):
        check_store_url("ftp://host/x")
    assert check_writable(str(tmp_path / "new")) is None
    (tmp_path / "file").write_text("x")
    assert check_writable(str(tmp_path / "file" / "below")) is not None


def test_the_error_line_is_the_python_exception_s_own() -> None:
    spark_text = (
        "An exception was thrown from the Python worker. Please see the stack trace below.\n"
        "Traceback (most recent call last):\n"
        '  File "/x/pyspark/worker.py", line 1, in main\n'
        "    import sparktf\n"
        "ModuleNotFoundError: No module named 'sparktf'\n"
        "\n\tat org.apache.spark.api.python.BasePythonRunner.handlePythonException(X.scala:1)\n"
        "\tat java.base/java.lang.Thread.run(Thread.java:840)\n"
    )
    assert error_line(spark_text) == "ModuleNotFoundError: No module named 'sparktf'"
    assert error_line("plain reason") == "plain reason"
    assert error_line("") == ""
