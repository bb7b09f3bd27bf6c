"""The preflight on real Spark: ``sparktf doctor`` on the test session, and a Spark Connect
server whose executors' Python is a bare virtualenv without sparktf (tune and doctor refuse,
exit 2, naming what is missing and how to install it, and no trial runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sparktf import __version__
from sparktf.cli import main
from sparktf.connect import local_connect_server
from sparktf.execution.preflight import Needs, run_preflight
from sparktf.signals import Stopped, orderly_stop
from tests.clusterutil import run_cli, save_gray_model, tail, write_pngs, write_space
from tests.execution.stops import lose_a_stop_signal


def test_doctor_checks_the_executors_and_says_so(
    spark, spark_flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code = main(["doctor", *spark_flags, "--checkpoint-dir", f"file://{tmp_path}/ckpt"])
    out = capsys.readouterr().out
    assert code == 0, out
    for check in ("sparktf", "Python version", "tensorflow / keras", "report channel"):
        assert check in out
    assert "ok    sparktf" in out and __version__ in out
    assert "checkpoint store" in out and "writable" in out


def test_an_unwritable_store_and_an_unreachable_channel_are_found(spark, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    result = run_preflight(
        spark, Needs(channel=("127.0.0.1", 9), store=str(tmp_path / "file" / "ckpt")), 2
    )
    assert [r.name for r in result.failed] == ["checkpoint store"]
    assert [r.name for r in result.warnings] == ["report channel"]
    assert "--no-checkpoints" in result.failed[0].fix
    assert "--channel-address" in result.warnings[0].fix


def test_a_stop_signal_during_the_probe_stops_even_when_a_library_lost_it(spark) -> None:
    """Ctrl-C while the probe job ran was reported as "the executors are not ready (Python
    tasks run): ... Answer from Java side is empty" (exit 2, not 130): Py4J's clean-up of the
    interrupted call failed and replaced the KeyboardInterrupt, whose job then failed."""
    with pytest.raises(Stopped), orderly_stop():
        lose_a_stop_signal()
        run_preflight(spark, Needs(), 2)


@pytest.mark.slow
def test_executors_without_sparktf_are_refused_before_any_trial(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    log = tmp_path / "calls.log"
    space = write_space(tmp_path / "space.json", {"x": {"type": "grid", "values": [1, 2]}})
    with local_connect_server("local[2]", python=str(bare / "bin" / "python")) as url:
        rc = run_cli(["doctor", "--remote", url], tmp_path / "doctor.log")
        out = tail(tmp_path / "doctor.log")
        assert rc == 2, out
        assert "No module named 'sparktf'" in out and f"sparktf=={__version__}" in out
        args = ["tune", "--objective", "tests.objectives:sleep_and_return", "--space", str(space)]
        args += ["--trials", "2", "--remote", url, "--out", str(tmp_path / "run")]
        rc = run_cli([*args, "--no-report"], tmp_path / "tune.log")
        write_pngs(tmp_path / "images", 3)
        model = save_gray_model(tmp_path / "gray.keras")
        args = ["predict", "--model", str(model), "--input", str(tmp_path / "images")]
        args += ["--remote", url, "--out", str(tmp_path / "p.parquet")]
        predict_rc = run_cli(args, tmp_path / "predict.log")
    out = tail(tmp_path / "predict.log")
    assert predict_rc == 2 and "No module named 'sparktf'" in out, out
    assert not (tmp_path / "p.parquet").exists()
    out = tail(tmp_path / "tune.log")
    assert rc == 2, out
    assert "the executors are not ready (sparktf, pyarrow / numpy)" in out, out
    assert "-m pip install sparktf" in out and "Traceback" not in out
    assert not log.exists(), "a trial ran"
