"""Reports of ``sparktf tune`` studies: PNG figures and a self-contained ``report.html``.

:func:`write_report` reads a run directory (``config.json`` + the Optuna study) and writes, beside
them, ``report.html`` (figures embedded as data URIs: it works offline and when moved alone) and
the same figures as PNG files. :func:`compare` overlays the optimization histories of several
studies against the compute they spent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sparktf.errors import ConfigError
from sparktf.fileio import write_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sparktf.report.data import StudyData
    from sparktf.report.html import Section

REPORT_HTML = "report.html"
COMPARE_HTML = "compare.html"
COMPARE_PNG = "compare.png"
DEFAULT_X = "learning_rate"
DEFAULT_BY = "neurons"
DEFAULT_TOP = 10

# file stem -> title, caption
FIGURES = {
    "sensitivity": (
        "Sensitivity to the learning rate",
        "Final test error of each completed trial against the hyperparameter on the x axis, "
        "one line per value of the grouping hyperparameter; log scales. Steep lines mean the "
        "training is sensitive to that hyperparameter.",
    ),
    "history": (
        "Optimization history",
        "The optimised metric of each completed trial and the best value so far, against the "
        "trial number and against wall time (executor clocks).",
    ),
    "importance": (
        "Hyperparameter importance",
        "How much of the variation of the optimised metric each hyperparameter explains "
        "(Optuna's importance evaluator over the completed trials: fANOVA when scikit-learn is "
        "installed, else PED-ANOVA).",
    ),
    "parallel_coordinates": (
        "Parallel coordinates",
        "Each completed trial is a line through its hyperparameter values to its result; "
        "brighter lines are better trials.",
    ),
    "learning_curves": (
        "Learning curves",
        "The metric each trial reported after every epoch; pruned trials end with a cross "
        "where the pruner stopped them; the best trial is drawn in black.",
    ),
    "pareto": (
        "Pareto front",
        "Every completed trial on the study's objectives; the red points are the Pareto front "
        "(no other feasible trial is at least as good on every objective and better on one), "
        "grey crosses break a constraint; with three objectives or more, one panel per pair.",
    ),
    "timeline": (
        "Trials per worker",
        "Which Python worker ran which trial and when (executor clocks), coloured by outcome, "
        "and how many of the task slots were busy over time.",
    ),
}


def _check_param(data: StudyData, name: str | None, flag: str) -> None:
    if name is not None and name not in data.param_names:
        raise ConfigError(
            f"{flag} {name!r} is not a hyperparameter of the study in {data.run_dir}; "
            f"it has: {', '.join(data.param_names) or 'none'}"
        )


def write_report(
    run_dir: str | Path, by: str | None = None, x: str | None = None, top: int = DEFAULT_TOP
) -> Path:
    """Write ``report.html`` and the figures as PNG files into a study's run directory.

    Args:
        run_dir: a directory written by ``sparktf tune``.
        by: the hyperparameter with one sensitivity line per value (default ``neurons`` when the
            study has it, else a single line).
        x: the hyperparameter on the sensitivity x axis (default ``learning_rate``).
        top: how many of the best trials the table lists.

    Returns:
        The path of ``report.html``.

    Raises:
        ConfigError: the directory is not a study's run directory, or ``by``/``x`` name no
            hyperparameter of the study.
    """
    from sparktf.report import html, plots
    from sparktf.report.data import load
    from sparktf.rundir import RunDir

    if top < 1:
        raise ConfigError(f"--top must be a positive number of trials, got {top}")
    run = RunDir(Path(run_dir))
    data = load(run.path)
    _check_param(data, by, "--by")
    _check_param(data, x, "--x")
    x_name = x or DEFAULT_X
    by_name = by if by is not None else (DEFAULT_BY if DEFAULT_BY in data.param_names else None)
    if by_name == x_name:
        raise ConfigError(f"--by and --x must name different hyperparameters, both are {x_name!r}")

    draw: dict[str, Callable[[], Figure]] = {
        "sensitivity": lambda: plots.sensitivity(data, x_name, by_name),
        "history": lambda: plots.history(data),
        "importance": lambda: plots.importance(data),
        "parallel_coordinates": lambda: plots.parallel_coordinates(data),
        "learning_curves": lambda: plots.learning_curves(data),
        "timeline": lambda: plots.timeline(data),
    }
    if len(data.objectives) > 1:
        from sparktf.report.pareto import pareto

        draw = {"pareto": lambda: pareto(data), **draw}
    sections: list[Section] = []
    for key, fn in draw.items():
        title, caption = FIGURES[key]
        if key == "sensitivity":
            title = f"Sensitivity to {x_name}" + (f" by {by_name}" if by_name else "")
        sections.append(_render(run.path / f"{key}.png", key, title, caption, fn))
    out = run.path / REPORT_HTML
    text = html.study_page(data, run.read_config(), sections, top)
    write_atomic(out, text)
    return out


def _render(png: Path, key: str, title: str, caption: str, fn: Callable[[], Figure]) -> Section:
    """Draw one figure into ``png``; a figure the study cannot give leaves a note (and no
    stale PNG from an earlier report)."""
    from sparktf.report import plots
    from sparktf.report.html import Section

    try:
        fig = fn()
    except plots.NoFigure as exc:
        png.unlink(missing_ok=True)
        return Section(key, title, caption, note=str(exc))
    plots.save(fig, png)
    return Section(key, title, caption, png=png)


def compare(run_dirs: Sequence[str | Path], out: str | Path) -> Path:
    """Overlay the optimization histories of several studies against the compute they spent.

    Args:
        run_dirs: two or more run directories of studies optimising the same metric.
        out: directory for ``compare.html`` and ``compare.png`` (created if missing).

    Returns:
        The path of ``compare.html``.

    Raises:
        ConfigError: fewer than two directories, one is not a study, or the studies optimise
            different metrics or directions.
    """
    from sparktf.report import html, plots
    from sparktf.report.data import load

    if len(run_dirs) < 2:
        raise ConfigError(f"--compare needs at least two run directories, got {len(run_dirs)}")
    studies = [load(p, importance=False) for p in run_dirs]
    goals = {(s.metric, s.direction) for s in studies}
    if len(goals) > 1:
        listed = "; ".join(f"{s.run_dir}: {s.direction} {s.metric}" for s in studies)
        raise ConfigError(f"cannot overlay studies that optimise different things: {listed}")
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    section = _render(
        out_dir / COMPARE_PNG,
        "compare",
        "Optimization histories",
        "Best value so far of each study against the compute it spent (sum of the training "
        "time of its finished trials, in the order they finished) and against wall time.",
        lambda: plots.compare(studies),
    )
    path = out_dir / COMPARE_HTML
    write_atomic(path, html.compare_page(studies, section))
    return path


__all__ = ["compare", "write_report"]
