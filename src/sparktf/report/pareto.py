"""The Pareto-front figure (``pareto.png``) of a study with several objectives.

Two objectives: every completed trial, the front drawn as a staircase through its members, the
infeasible trials crossed out. Three or more: a matrix of scatter plots, one per pair.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sparktf.report.data import COMPLETE, StudyData, TrialRecord
from sparktf.report.plots import NoFigure, _figure
from sparktf.search.multi import MEASURES

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FRONT = "#d62728"
OTHER = "#1f77b4"
INFEASIBLE = "#7f7f7f"


def pareto(data: StudyData) -> Figure:
    """The front over all trials (two objectives; a built-in measure such as ``params`` along
    x, else the first objective along y) or a matrix of pairs (three or more).

    Raises:
        NoFigure: one objective, or no completed trial with every objective's value.
    """
    names = list(data.objectives)
    if len(names) < 2:
        raise NoFigure("the study optimises one objective; the front needs two or more")
    done = [t for t in data.trials if t.state == COMPLETE and len(t.values) == len(names)]
    if not done:
        raise NoFigure("no completed trial has a value for every objective yet")
    if len(names) == 2:
        fig = _figure()
        y, x = names if names[1] in MEASURES else names[::-1]  # a measure along x
        _pair(fig.add_subplot(1, 1, 1), done, x, y, data)
        fig.suptitle(f"{len([t for t in done if t.pareto])} of {len(done)} trials on the front")
        return fig
    n = len(names)
    fig = _figure((3.2 * n, 3.0 * n))
    for (i, a), (j, b) in itertools.product(enumerate(names), repeat=2):
        ax = fig.add_subplot(n, n, i * n + j + 1)
        if i == j:
            ax.text(0.5, 0.5, f"{a}\n({data.objectives[a][:3]})", ha="center", va="center")
            ax.set_axis_off()
        else:
            _pair(ax, done, b, a, data, staircase=False)
    return fig


def _pair(
    ax: Axes, done: Sequence[TrialRecord], x: str, y: str, data: StudyData, staircase: bool = True
) -> None:
    groups = {
        "front": [t for t in done if t.pareto],
        "other": [t for t in done if not t.pareto and t.feasible is not False],
        "infeasible": [t for t in done if t.feasible is False],
    }
    style = {"front": (FRONT, "o"), "other": (OTHER, "o"), "infeasible": (INFEASIBLE, "x")}
    for label, trials in groups.items():
        if trials:
            color, marker = style[label]
            ax.scatter(
                [t.values[x] for t in trials],
                [t.values[y] for t in trials],
                c=color,
                marker=marker,
                s=28,
                label=f"{label} ({len(trials)})",
                zorder=3 if label == "front" else 2,
            )
    front = sorted(groups["front"], key=lambda t: t.values[x])
    if staircase and len(front) > 1:
        ax.step([t.values[x] for t in front], [t.values[y] for t in front], c=FRONT, where="post")
    for t in front:
        ax.annotate(
            str(t.number),
            (t.values[x], t.values[y]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.set_xlabel(f"{x} ({data.objectives[x][:3]})")
    ax.set_ylabel(f"{y} ({data.objectives[y][:3]})")
    if x in ("params", "model_bytes"):
        ax.set_xscale("log")
    if y in ("params", "model_bytes"):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if staircase:
        ax.legend(fontsize=8)
