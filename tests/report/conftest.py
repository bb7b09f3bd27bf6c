"""Fixtures: one real Optuna study in a run directory, and its report, shared by the tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.report.studies import make_study


@pytest.fixture(scope="session")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory with 12 completed, 3 pruned and 2 failed trials (real SQLite study)."""
    return make_study(tmp_path_factory.mktemp("study") / "tpe-asha")


@pytest.fixture(scope="session")
def report_html(study_dir: Path) -> Path:
    """The study's report, written once."""
    from sparktf.report import write_report

    return write_report(study_dir)
