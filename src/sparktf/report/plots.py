"""The report's figures, drawn with matplotlib's object API (Agg canvas, no pyplot state).

Each function takes a :class:`~sparktf.report.data.StudyData` and returns a matplotlib
``Figure``, or raises :class:`NoFigure` with a reason when the study cannot give that figure
(e.g. no learning rate in a custom objective's space). :func:`save` writes a PNG.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparktf.errors import SparkTFError
from sparktf.report.data import COMPLETE, FAILED, PRUNED, RUNNING, StudyData, TrialRecord

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
SIZE = (8.0, 5.0)
WIDE = (12.0, 5.0)
STATE_COLORS = {
    COMPLETE: "#1f77b4",
    PRUNED: "#ff7f0e",
    FAILED: "#d62728",
    RUNNING: "#7f7f7f",
}


class NoFigure(SparkTFError):
    """The study does not have what a figure needs; the report shows the reason instead."""


def _figure(size: tuple[float, float] = SIZE, **kw: Any) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=DPI, layout="constrained", **kw)


def save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG (dpi 100) and return its path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI, format="png", facecolor="white")
    return path


def _sort_key(value: Any) -> tuple[int, float, str]:
    f = _as_float(value)
    return (0, f, "") if f is not None else (1, 0.0, str(value))


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _fmt(value: Any) -> str:
    f = _as_float(value)
    if f is None:
        return str(value)
    return f"{int(f)}" if f.is_integer() and abs(f) < 1e6 else f"{f:.3g}"


def _monitor(metric: str) -> str:
    """The name of the metric reported each epoch, as ``sparktf tune`` chooses it."""
    if metric.startswith("val_"):
        return metric
    if metric.startswith("test_"):
        return "val_" + metric[len("test_") :]
    return metric


def _best_so_far(values: Sequence[float], maximize: bool) -> list[float]:
    out: list[float] = []
    for v in values:
        out.append(v if not out else (max(out[-1], v) if maximize else min(out[-1], v)))
    return out


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    if n <= 10:
        return [f"C{i}" for i in range(n)]
    cmap = colormaps["viridis"]
    return [cmap(i / max(n - 1, 1)) for i in range(n)]


# -- sensitivity -----------------------------------------------------------------------------


def sensitivity(data: StudyData, x: str = "learning_rate", by: str | None = None) -> Figure:
    """Final test error (or the optimised metric) against ``x``, one line per value of ``by``.

    Both axes are logarithmic where every value is positive.

    Raises:
        NoFigure: no completed trial has a numeric ``x``.
    """
    done = data.completed
    if not done:
        raise NoFigure("no trial completed")
    points = [t for t in done if _as_float(t.params.get(x)) is not None]
    if not points:
        raise NoFigure(
            f"no completed trial has a numeric hyperparameter {x!r} "
            f"(hyperparameters: {', '.join(data.param_names) or 'none'}); choose one with --x"
        )
    if any("test_error" in t.metrics for t in points):
        points = [t for t in points if "test_error" in t.metrics]
        y_of = {t.number: t.metrics["test_error"] for t in points}
        y_name, y_label = "test error", "final test error (fraction misclassified)"
    else:
        y_of = {t.number: float(t.value) for t in points if t.value is not None}
        y_name = data.metric
        y_label = f"{data.metric} (the optimised metric; trials report no test_error)"
    groups: dict[Any, list[TrialRecord]] = {}
    for t in points:
        groups.setdefault(t.params.get(by) if by else None, []).append(t)
    fig = _figure()
    ax = fig.add_subplot()
    keys = sorted(groups, key=_sort_key)
    for key, color in zip(keys, _colors(len(keys)), strict=True):
        ts = sorted(groups[key], key=lambda t: float(t.params[x]))
        n = f"{len(ts)} trial{'s' if len(ts) != 1 else ''}"
        label = f"{by} = {_fmt(key)} ({n})" if by else n
        ax.plot(
            [float(t.params[x]) for t in ts],
            [y_of[t.number] for t in ts],
            marker="o",
            markersize=5,
            linewidth=1.6,
            color=color,
            label=label,
        )
    xs = [float(t.params[x]) for t in points]
    ys = list(y_of.values())
    x_log = all(v > 0 for v in xs) and max(xs) > min(xs)
    y_log = all(v > 0 for v in ys)
    if x_log:
        ax.set_xscale("log")
    if y_log:
        from matplotlib.ticker import FuncFormatter

        ax.set_yscale("log")
        plain = FuncFormatter(lambda v, _: f"{v:.3g}")  # 0.015, not 1.5×10⁻²
        ax.yaxis.set_major_formatter(plain)
        if max(ys) < 10 * min(ys):  # less than a decade: label the minor ticks too
            ax.yaxis.set_minor_formatter(plain)
    ax.set_xlabel(f"{x}{' (log scale)' if x_log else ''}")
    ax.set_ylabel(f"{y_label}{' (log scale)' if y_log else ''}")
    title = f"Sensitivity: {y_name} against {x}"
    ax.set_title(title + (f", one line per {by}" if by else ""))
    ax.grid(True, which="major", alpha=0.4)
    ax.grid(True, which="minor", alpha=0.15)
    ax.legend(title=by, fontsize=9)
    return fig


# -- optimization history --------------------------------------------------------------------


def _history_axis(
    ax: Axes, xs: list[float], ys: list[float], data: StudyData, xlabel: str, title: str
) -> None:
    ax.scatter(xs, ys, s=22, color=STATE_COLORS[COMPLETE], alpha=0.7, label="completed trial")
    best = _best_so_far(ys, data.maximize)
    ax.step(xs, best, where="post", color="#d62728", linewidth=2, label="best so far")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{data.metric} ({data.direction})")
    ax.set_title(title)
    ax.grid(True, alpha=0.4)
    ax.legend(fontsize=9)


def history(data: StudyData) -> Figure:
    """Best value so far against trial number (left) and against wall time (right).

    Raises:
        NoFigure: no trial completed.
    """
    done = data.completed
    if not done:
        raise NoFigure("no trial completed")
    fig = _figure(WIDE)
    left, right = fig.subplots(1, 2)
    by_number = sorted(done, key=lambda t: t.number)
    _history_axis(
        left,
        [float(t.number) for t in by_number],
        [t.score for t in by_number],
        data,
        "trial number",
        "Optimization history by trial",
    )
    t0 = data.start
    timed = sorted((end, t.score) for t, _, end in data.timed() if t.state == COMPLETE)
    if timed and t0 is not None:
        _history_axis(
            right,
            [end - t0 for end, _ in timed],
            [score for _, score in timed],
            data,
            "wall time since the study's first trial started (s)",
            "Optimization history over time",
        )
    else:
        right.set_axis_off()
        right.text(0.5, 0.5, "no trial recorded its run time", ha="center", va="center")
    return fig


# -- importance ------------------------------------------------------------------------------


def importance(data: StudyData) -> Figure:
    """Hyperparameter importance from Optuna's evaluator, as horizontal bars.

    Raises:
        NoFigure: Optuna could not evaluate importance (see ``data.importance_note``).
    """
    if not data.importance:
        raise NoFigure(data.importance_note or "no importance available")
    items = sorted(data.importance.items(), key=lambda kv: kv[1])
    fig = _figure((8.0, max(2.5, 1.2 + 0.45 * len(items))))
    ax = fig.add_subplot()
    bars = ax.barh([k for k, _ in items], [v for _, v in items], color=STATE_COLORS[COMPLETE])
    ax.bar_label(bars, labels=[f"{v:.2f}" for _, v in items], padding=3, fontsize=9)
    ax.set_xlim(0, max(1.0, max(v for _, v in items) * 1.15))
    method = data.importance_note
    what = "share of the variance of the objective" if method == "fANOVA" else "normalised"
    ax.set_xlabel(f"importance (Optuna's {method} evaluator; {what}, sums to 1)")
    ax.set_ylabel("hyperparameter")
    ax.set_title(f"Hyperparameter importance for {data.metric}")
    ax.grid(True, axis="x", alpha=0.4)
    return fig


# -- parallel coordinates --------------------------------------------------------------------


def _axis_scale(
    values: list[Any], log: bool, categorical: bool = False
) -> tuple[list[float], list[tuple[float, str]]]:
    """Positions in [0, 1] for ``values`` and (position, label) ticks for the axis.

    Categories are evenly spaced (in numeric order when they are numbers).
    """
    nums = [_as_float(v) for v in values]
    if not categorical and all(n is not None for n in nums):
        fs = [n for n in nums if n is not None]
        log = log and all(f > 0 for f in fs)
        tr = [math.log10(f) if log else f for f in fs]
        lo, hi = min(tr), max(tr)
        if hi == lo:
            return [0.5] * len(fs), [(0.5, _fmt(fs[0]))]
        pos = [(v - lo) / (hi - lo) for v in tr]
        distinct = sorted(set(fs))
        if len(distinct) <= 6:
            ticks = [((math.log10(d) if log else d) - lo) / (hi - lo) for d in distinct]
            return pos, list(zip(ticks, [_fmt(d) for d in distinct], strict=True))
        marks = [0.0, 0.25, 0.5, 0.75, 1.0]
        labels = [_fmt(10 ** (lo + m * (hi - lo)) if log else lo + m * (hi - lo)) for m in marks]
        return pos, list(zip(marks, labels, strict=True))
    cats = list(dict.fromkeys(_fmt(v) for v in sorted(values, key=_sort_key)))
    step = 1.0 / max(len(cats) - 1, 1)
    index = {c: (i * step if len(cats) > 1 else 0.5) for i, c in enumerate(cats)}
    return [index[_fmt(v)] for v in values], [(index[c], c) for c in cats]


def parallel_coordinates(data: StudyData) -> Figure:
    """One polyline per completed trial through its hyperparameters and its value.

    Raises:
        NoFigure: no trial completed, or there are no hyperparameters.
    """
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    done = data.ranked()[::-1]  # worst first, so that the best lines are drawn on top
    if not done:
        raise NoFigure("no trial completed")
    names = [n for n in data.param_names if any(n in t.params for t in done)]
    varying = [n for n in names if len({str(t.params.get(n)) for t in done}) > 1]
    names = varying or names
    if not names:
        raise NoFigure("the trials have no hyperparameters")
    columns = [*names, data.metric]
    values = [t.score for t in done]
    scaled: list[list[float]] = []
    ticks: list[list[tuple[float, str]]] = []
    for name in names:
        pos, tk = _axis_scale(
            [t.params.get(name, "—") for t in done],
            name in data.log_params,
            name in data.categorical_params,
        )
        scaled.append(pos)
        ticks.append(tk)
    pos, tk = _axis_scale(values, False)
    scaled.append(pos)
    ticks.append(tk)

    fig = _figure((max(8.0, 2.0 + 1.8 * len(columns)), 5.0))
    ax = fig.add_subplot()
    cmap = colormaps["viridis" if data.maximize else "viridis_r"]
    norm = Normalize(min(values), max(values) if max(values) > min(values) else min(values) + 1)
    xs = list(range(len(columns)))
    for i, v in enumerate(values):  # worst first, best drawn on top
        ax.plot(xs, [col[i] for col in scaled], color=cmap(norm(v)), alpha=0.8, linewidth=1.3)
    for x, tk in zip(xs, ticks, strict=True):
        ax.axvline(x, color="black", linewidth=1)
        for y, label in tk:
            ax.text(
                x + 0.03,
                y,
                label,
                fontsize=8,
                va="center",
                ha="left",
                bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1},
            )
    ax.set_xticks(
        xs,
        [
            *(c + (" (log)" if c in data.log_params else "") for c in names),
            f"{data.metric}\n(value)",
        ],
    )
    ax.set_yticks([])
    ax.set_xlim(-0.15, len(columns) - 0.6)
    ax.set_ylim(-0.05, 1.05)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    from matplotlib.cm import ScalarMappable

    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.01)
    bar.set_label(f"{data.metric} ({data.direction}; brighter is better)")
    ax.set_title(f"Parallel coordinates of the {len(done)} completed trials")
    return fig


# -- learning curves -------------------------------------------------------------------------


def learning_curves(data: StudyData) -> Figure:
    """Every trial's intermediate values per epoch; pruned trials marked where they stopped.

    Raises:
        NoFigure: no trial reported intermediate values.
    """
    from matplotlib.lines import Line2D

    curved = [t for t in data.trials if t.curve]
    if not curved:
        raise NoFigure("no trial reported intermediate values (call sparktf.trial.report)")
    fig = _figure()
    ax = fig.add_subplot()
    best = data.best()
    counts = {COMPLETE: 0, PRUNED: 0, FAILED: 0, RUNNING: 0}
    for t in curved:
        steps = list(t.curve)
        vals = list(t.curve.values())
        state = t.state if t.state in STATE_COLORS else RUNNING
        counts[state] += 1
        color = STATE_COLORS[state]
        style = "--" if state == FAILED else "-"
        ax.plot(
            steps,
            vals,
            style,
            color=color,
            alpha=0.6,
            linewidth=1.2,
            zorder=2 if state == COMPLETE else 3,
        )
        if state == PRUNED:
            stop = t.pruned_at_epoch if t.pruned_at_epoch is not None else steps[-1]
            stop = stop if stop in t.curve else steps[-1]
            ax.plot(
                [stop],
                [t.curve[stop]],
                "X",
                color=color,
                markersize=9,
                markeredgecolor="black",
                markeredgewidth=0.6,
                zorder=5,
            )
        elif state == FAILED:
            ax.plot([steps[-1]], [vals[-1]], "v", color=color, markersize=7, zorder=5)
    if best is not None and best.curve:
        ax.plot(list(best.curve), list(best.curve.values()), color="black", linewidth=2.4)
    handles = [
        Line2D([], [], color=STATE_COLORS[COMPLETE], label=f"completed ({counts[COMPLETE]})"),
        Line2D(
            [],
            [],
            color=STATE_COLORS[PRUNED],
            marker="X",
            markeredgecolor="black",
            label=f"pruned, ✕ where stopped ({counts[PRUNED]})",
        ),
    ]
    if counts[FAILED]:
        handles.append(
            Line2D(
                [],
                [],
                color=STATE_COLORS[FAILED],
                linestyle="--",
                marker="v",
                label=f"failed ({counts[FAILED]})",
            )
        )
    if counts[RUNNING]:
        handles.append(
            Line2D([], [], color=STATE_COLORS[RUNNING], label=f"running/other ({counts[RUNNING]})")
        )
    if best is not None and best.curve:
        handles.append(
            Line2D([], [], color="black", linewidth=2.4, label=f"best trial (#{best.number})")
        )
    ax.legend(handles=handles, fontsize=9)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch (reported step)")
    ax.set_ylabel(f"{_monitor(data.metric)} (value reported each epoch)")
    ax.set_title(f"Learning curves of {len(curved)} trials")
    ax.grid(True, alpha=0.4)
    return fig


# -- timeline --------------------------------------------------------------------------------


def utilisation(data: StudyData) -> tuple[float, int, float]:
    """(busy share of the slots, slots, span in s) over the study's timed trials.

    The slots are the study's parallelism, or the peak number of trials running at once.
    """
    timed = data.timed()
    if not timed:
        return 0.0, data.parallelism or 0, 0.0
    t0 = min(start for _, start, _ in timed)
    span = max(end for _, _, end in timed) - t0
    busy = sum(end - start for _, start, end in timed)
    slots = data.parallelism or max(_running(timed)[1], default=0)
    return (busy / (slots * span) if span > 0 and slots else 0.0), slots, span


def _running(timed: list[tuple[TrialRecord, float, float]]) -> tuple[list[float], list[int]]:
    """Times and the number of trials running from each time on (a step function)."""
    events = sorted(
        [(start, 1) for _, start, _ in timed] + [(end, -1) for _, _, end in timed],
        key=lambda e: (e[0], e[1]),
    )
    xs: list[float] = []
    ys: list[int] = []
    level = 0
    for when, delta in events:
        level += delta
        xs.append(when)
        ys.append(level)
    return xs, ys


def timeline(data: StudyData) -> Figure:
    """Which worker ran which trial when (top) and how many task slots were busy (bottom).

    Raises:
        NoFigure: no trial recorded its run time.
    """
    timed = data.timed()
    if not timed:
        raise NoFigure("no trial recorded its run time (run_start/run_end)")
    t0 = timed[0][1]
    workers = dict.fromkeys(t.worker or "unknown worker" for t, _, _ in timed)
    rows = {w: i for i, w in enumerate(workers)}
    fig = _figure((12.0, max(5.0, 2.6 + 0.45 * len(rows))))
    top, bottom = fig.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [max(2, len(rows)), 1.6]}
    )
    span_all = max(end for _, _, end in timed) - t0
    for t, t_start, t_end in timed:
        start, end = t_start - t0, t_end - t0
        end = max(end, start + 0.004 * span_all)  # a trial that failed at once stays visible
        row = rows[t.worker or "unknown worker"]
        color = STATE_COLORS.get(t.state, STATE_COLORS[RUNNING])
        top.barh(
            row,
            max(end - start, 1e-9),
            left=start,
            height=0.7,
            color=color,
            edgecolor="black",
            linewidth=0.6,
            alpha=0.85,
        )
        top.text(
            start + (end - start) / 2,
            row,
            f"#{t.number}",
            ha="center",
            va="center",
            fontsize=8,
            color="white",
            clip_on=True,
        )
    top.set_yticks(list(rows.values()), list(rows))
    top.invert_yaxis()
    top.set_ylabel("worker (host:pid)")
    from matplotlib.patches import Patch

    present = [
        s for s in (COMPLETE, PRUNED, FAILED, RUNNING) if any(t.state == s for t, _, _ in timed)
    ]
    top.legend(
        handles=[Patch(color=STATE_COLORS[s], label=s.lower()) for s in present],
        fontsize=9,
        loc="upper left",
        bbox_to_anchor=(1.005, 1.0),
    )
    share, slots, span = utilisation(data)
    top.set_title(
        f"Trials per worker: {len(timed)} trials on {len(rows)} workers, "
        f"slot utilisation {share:.0%} of {slots} slots over {span:.1f} s"
    )
    top.grid(True, axis="x", alpha=0.4)

    times, levels = _running(timed)
    xs = [0.0, *(when - t0 for when in times)]
    ys = [0, *levels]
    bottom.fill_between(
        xs, ys, step="post", color=STATE_COLORS[COMPLETE], alpha=0.5, label="trials running"
    )
    bottom.step(xs, ys, where="post", color=STATE_COLORS[COMPLETE])
    bottom.axhline(
        slots,
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"task slots ({slots}{'' if data.parallelism else ', observed peak'})",
    )
    bottom.set_ylim(0, max(slots, max(ys)) + 0.5)
    bottom.set_ylabel("trials running")
    bottom.set_xlabel("wall time since the first trial started (s)")
    bottom.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.005, 1.0))
    from matplotlib.ticker import MaxNLocator

    bottom.yaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.grid(True, alpha=0.4)
    return fig


# -- comparison ------------------------------------------------------------------------------


def _progress(data: StudyData) -> tuple[list[float], list[float], list[float]]:
    """(cumulative compute s, wall time s, best so far) at each completed trial, by run_end."""
    finished = sorted(
        ((end, t) for t, _, end in data.timed() if t.state in (COMPLETE, PRUNED, FAILED)),
        key=lambda row: row[0],
    )
    t0 = data.start or 0.0
    compute = 0.0
    best: float | None = None
    cx: list[float] = []
    wx: list[float] = []
    by: list[float] = []
    for end, t in finished:
        compute += t.compute_s or 0.0
        if t.state == COMPLETE and t.value is not None:
            v = t.value
            best = v if best is None else (max(best, v) if data.maximize else min(best, v))
            cx.append(compute)
            wx.append(end - t0)
            by.append(best)
    if by:  # carry the best value to the end of the compute spent
        cx.append(compute)
        wx.append(finished[-1][0] - t0)
        by.append(by[-1])
    return cx, wx, by


def compare(studies: Sequence[StudyData]) -> Figure:
    """Best value so far of several studies against compute spent (left) and wall time (right).

    Raises:
        NoFigure: none of the studies has a completed, timed trial.
    """
    fig = _figure(WIDE)
    left, right = fig.subplots(1, 2, sharey=True)
    drawn = 0
    for data, color in zip(studies, _colors(len(studies)), strict=True):
        cx, wx, by = _progress(data)
        if not by:
            continue
        drawn += 1
        n = len(data.completed)
        label = f"{data.label}: best {by[-1]:.4g} ({n} completed)"
        left.step(cx, by, where="post", color=color, linewidth=2, label=label)
        left.plot(cx[:-1], by[:-1], "o", color=color, markersize=3)
        right.step(wx, by, where="post", color=color, linewidth=2, label=label)
    if not drawn:
        raise NoFigure("none of the studies has a completed trial with run times")
    metric, direction = studies[0].metric, studies[0].direction
    left.set_xlabel("compute spent: cumulative training time of finished trials (s)")
    right.set_xlabel("wall time since the study's first trial started (s)")
    left.set_ylabel(f"best {metric} so far ({direction})")
    left.set_title("Best so far against compute spent")
    right.set_title("Best so far against wall time")
    for ax in (left, right):
        ax.grid(True, alpha=0.4)
    left.legend(fontsize=9, loc="lower right" if studies[0].maximize else "upper right")
    return fig
