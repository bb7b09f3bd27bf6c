"""MLflow flags on the command line: usage errors exit 2 before anything starts, and a
missing MLflow says how to install it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sparktf.cli import main
from tests.clusterutil import REPO


@pytest.fixture
def space_file(tmp_path: Path) -> Path:
    f = tmp_path / "space.yaml"
    f.write_text("neurons: {type: choice, values: [8, 16]}\n")
    return f


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "mnist_cnn", "--register-model", "m"], "--register-model is about MLflow"),
        (["--model", "mnist_cnn", "--mlflow-experiment", "e"], "--mlflow-experiment is about"),
        (["--model", "mnist_cnn", "--mlflow", "--mlflow-experiment", " "], "must not be empty"),
        (
            ["--objective", "tests.objectives:quadratic", "--mlflow", "--register-model", "m"],
            "an objective function saves none",
        ),
    ],
)
def test_bad_mlflow_flags_exit_2_before_anything_starts(
    argv: list[str], message: str, space_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    code = main(["tune", *argv, "--space", str(space_file), "--out", str(out)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and message in err, err
    assert not out.exists()


_WITHOUT_MLFLOW = """
import sys
from importlib.abc import MetaPathFinder

class NoMlflow(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "mlflow" or name.startswith("mlflow."):
            raise ModuleNotFoundError("No module named 'mlflow'")
        return None

sys.meta_path.insert(0, NoMlflow())
from sparktf.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["tune", "--model", "mnist_cnn", "--space", "S", "--mlflow", "--out", "OUT"],
        ["predict", "--model", "models:/fashion-cnn/1", "--input", "IN"],
    ],
)
def test_without_mlflow_the_flags_say_how_to_install_it(
    argv: list[str], space_file: Path, tmp_path: Path
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(b"")
    paths = {"S": str(space_file), "OUT": str(tmp_path / "run"), "IN": str(tmp_path / "in")}
    proc = subprocess.run(
        [sys.executable, "-c", _WITHOUT_MLFLOW, *(paths.get(a, a) for a in argv)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    err = " ".join(proc.stderr.split())
    assert proc.returncode == 2, err
    assert "needs MLflow, which is not installed: pip install 'sparktf[mlflow]'" in err
    assert "Traceback" not in err and not (tmp_path / "run").exists()
