"""``sparktf report RUN_DIR`` and ``sparktf report --compare`` through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparktf.cli import main
from tests.report.studies import make_study


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli-runs")
    return (
        make_study(root / "tpe", complete=6, pruned=2, failed=1),
        make_study(root / "random", complete=6, pruned=0, failed=0, sampler="random", seed=4),
    )


def test_report_writes_html_and_pngs_and_prints_the_path(
    runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    run = runs[0]
    assert main(["report", str(run), "--top", "3"]) == 0
    assert capsys.readouterr().out.strip() == str(run / "report.html")
    html = (run / "report.html").read_text()
    assert "Top 3 trials by val_accuracy (maximize)" in html
    top = html.split("Top 3 trials", 1)[1].split("Pruned trials", 1)[0]
    assert top.count("<tr><td") == 3
    assert len(list(run.glob("*.png"))) == 6


def test_report_by_another_parameter(runs: tuple[Path, Path]) -> None:
    run = runs[1]
    assert main(["report", str(run), "--by", "epochs", "--x", "learning_rate"]) == 0
    assert "Sensitivity to learning_rate by epochs" in (run / "report.html").read_text()


def test_compare(
    runs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cmp"
    assert main(["report", "--compare", str(runs[0]), str(runs[1]), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out / "compare.html")
    assert (out / "compare.png").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report"], "give a run directory"),
        (["report", "{tmp}"], "not a sparktf run directory: config.json is missing"),
        (["report", "{run}", "--by", "nope"], "--by 'nope' is not a hyperparameter"),
        (["report", "--compare", "{run}", "{run}"], "--compare needs --out"),
        (["report", "{run}", "--compare", "{run}", "{run}", "--out", "{tmp}"], "not both"),
        (["report", "{run}", "--out", "{tmp}"], "--out applies to --compare"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    runs: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    args = [a.format(tmp=tmp_path, run=runs[0]) for a in argv]
    assert main(args) == 2
    assert message in capsys.readouterr().err.replace("\n", " ")


def test_help_explains_the_figures(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["report", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for word in ("--compare", "--by", "--x", "--top", "sensitivity", "learning curves", "offline"):
        assert word in out
