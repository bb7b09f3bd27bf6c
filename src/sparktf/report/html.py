"""The self-contained HTML page: figures embedded as base64 PNG data URIs, tables, no scripts."""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from sparktf.report.data import COMPLETE, FAILED, PRUNED, StudyData, TrialRecord

# the metrics shown in the tables when trials report them, in this order
KEY_METRICS = ("test_error", "test_accuracy", "val_accuracy", "val_error", "train_seconds")

CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:1280px;padding:1em 2em;color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em;display:block;overflow-x:auto;
max-width:100%}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:.5em 0}figure img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{color:#555;font-size:.9em}.note{background:#fff7e0;border-left:4px solid #f0b400;
padding:.5em 1em}.empty{background:#fdecea;border-left:4px solid #d62728;padding:.5em 1em}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.85em}
.state-COMPLETE{color:#1f77b4}.state-PRUNED{color:#c25e00}.state-FAILED{color:#d62728}
nav a{margin-right:1em}
"""


@dataclass(frozen=True)
class Section:
    """One figure of the report: its PNG (beside the HTML), or the reason it is missing."""

    key: str
    title: str
    caption: str
    png: Path | None = None
    note: str | None = None


def _data_uri(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def _cell(value: Any) -> str:
    if value is None:
        return "<td></td>"
    if isinstance(value, bool):
        return f"<td>{value}</td>"
    if isinstance(value, int):
        return f'<td class="num">{value}</td>'
    if isinstance(value, float):
        if not math.isfinite(value):
            return f'<td class="num">{value}</td>'
        return f'<td class="num">{value:.4g}</td>'
    return f"<td>{escape(str(value))}</td>"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], raw: int | None = None) -> str:
    """An HTML table; cells are escaped except column ``raw`` (already HTML)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = [f"<td>{v}</td>" if i == raw else _cell(v) for i, v in enumerate(row)]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _metric_columns(trials: Sequence[TrialRecord], metric: str) -> list[str]:
    """The key metrics the trials report, except the optimised one (it has its own column)."""
    present = {k for t in trials for k in t.metrics}
    return [m for m in KEY_METRICS if m in present and m != metric]


def _state(t: TrialRecord) -> str:
    return f'<span class="state-{escape(t.state)}">{escape(t.state.lower())}</span>'


def figure_html(section: Section) -> str:
    """A figure with its caption and a link to the PNG file, or the note why it is missing."""
    out = [f'<h2 id="{section.key}">{escape(section.title)}</h2>']
    if section.png is not None:
        out.append(
            f'<figure><img src="{_data_uri(section.png)}" alt="{escape(section.title)}">'
            f"<figcaption>{escape(section.caption)} "
            f'(<a href="{escape(section.png.name)}">{escape(section.png.name)}</a>)'
            "</figcaption></figure>"
        )
    else:
        out.append(
            f'<p class="note">Not drawn: {escape(section.note or "no data")}. '
            f"<br>{escape(section.caption)}</p>"
        )
    return "\n".join(out)


def _fixed_params(data: StudyData) -> dict[str, Any]:
    """The hyperparameters with one value in every trial of a study of several trials (the
    tables leave them out: a fixed ``epochs`` beside ``epochs run`` reads as a duplicate)."""
    if len(data.trials) < 2:
        return {}
    first = data.trials[0].params
    return {
        p: first.get(p)
        for p in data.param_names
        if all(p in t.params and t.params[p] == first.get(p) for t in data.trials)
    }


def _table_params(data: StudyData) -> list[str]:
    """The hyperparameters the tables show: those that vary between trials."""
    fixed = _fixed_params(data)
    return [p for p in data.param_names if p not in fixed]


def _states(data: StudyData) -> str:
    """``12 complete, 3 pruned, 2 failed``, then every other state present by its name."""
    counts = {s: len(data.with_state(s)) for s in (COMPLETE, PRUNED, FAILED)}
    for t in data.trials:
        counts.setdefault(t.state, len(data.with_state(t.state)))
    return ", ".join(f"{n} {s.lower().replace('_', ' ')}" for s, n in counts.items())


def _summary(data: StudyData, config: dict[str, Any]) -> str:
    states = _states(data)
    compute = sum(t.compute_s or 0.0 for t in data.trials)
    ends = [t.run_end for t in data.trials if t.run_end is not None]
    span = (max(ends) - data.start) if ends and data.start is not None else None
    best = data.best()
    rows: list[tuple[str, Any]] = [
        ("run directory", str(data.run_dir)),
        ("study", data.study_name),
        ("objective", config.get("model") or config.get("objective") or "—"),
        ("data set", config.get("dataset") or "—"),
        ("optimised metric", _optimised(data, config)),
        ("sampler / pruner", f"{data.sampler} / {data.pruner}"),
        ("Spark master", config.get("master") or "—"),
        ("parallelism", str(data.parallelism or "task slots")),
        ("trials", f"{len(data.trials)}: {states}"),
        ("compute spent", f"{compute:.1f} s of training"),
        ("wall time", f"{span:.1f} s" if span is not None else "—"),
    ]
    fixed = _fixed_params(data)
    if fixed:
        rows.append(
            ("same in every trial", ", ".join(f"{k}={_short(v)}" for k, v in fixed.items()))
        )
    if best is not None:
        params = ", ".join(f"{k}={_short(v)}" for k, v in best.params.items())
        rows.append(("best", f"trial #{best.number}: {data.metric} = {best.value:.6g}"))
        rows.append(("best hyperparameters", params))
        if "test_error" in best.metrics:
            rows.append(("best trial's test error", f"{best.metrics['test_error']:.4g}"))
    body = "".join(f"<tr><th>{escape(k)}</th>{_cell(v)}</tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _optimised(data: StudyData, config: Mapping[str, Any]) -> str:
    """The objective(s), with constraints and the model choice of several objectives."""
    if len(data.objectives) < 2:
        text = f"{data.metric} ({data.direction})"
    else:
        text = ", ".join(f"{n} ({d})" for n, d in data.objectives.items())
        text += f"; best/ chosen by --select {config.get('select') or 'occam:0.005'}"
    constraints = config.get("constraints") or []
    return text + (f"; constraints: {', '.join(map(str, constraints))}" if constraints else "")


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _top_table(data: StudyData, top: int) -> str:
    ranked = data.ranked()[:top]
    if not ranked:
        return '<p class="empty">No completed trial: there is nothing to rank.</p>'
    params = _table_params(data)
    metrics = _metric_columns(ranked, data.metric)
    headers = [
        "rank",
        "trial",
        data.metric,
        *params,
        *metrics,
        "epochs run",
        "compute (s)",
        "worker",
    ]
    rows = [
        [
            i + 1,
            t.number,
            t.value,
            *[t.params.get(p) for p in params],
            *[t.metrics.get(m) for m in metrics],
            t.epochs_completed,
            t.compute_s,
            t.worker,
        ]
        for i, t in enumerate(ranked)
    ]
    return _table(headers, rows)


def _pruned_table(data: StudyData) -> str:
    pruned = data.with_state(PRUNED)
    if not pruned:
        return "<p>No trial was pruned.</p>"
    params = _table_params(data)
    headers = ["trial", "stopped at epoch", "last reported value", *params, "compute (s)", "worker"]
    rows = [
        [
            t.number,
            t.pruned_at_epoch or (max(t.curve) if t.curve else None),
            t.value if t.value is not None else (t.curve[max(t.curve)] if t.curve else None),
            *[t.params.get(p) for p in params],
            t.compute_s,
            t.worker,
        ]
        for t in pruned
    ]
    return _table(headers, rows)


def _failed_table(data: StudyData) -> str:
    failed = data.with_state(FAILED)
    if not failed:
        return "<p>No trial failed.</p>"
    params = _table_params(data)
    headers = ["trial", "reason", "attempts", *params, "worker"]
    rows = []
    for t in failed:
        reason = escape(t.error_summary or "no error recorded")
        if t.error:
            reason += (
                "<details><summary>full error and traceback</summary>"
                f"<pre>{escape(t.error)}</pre></details>"
            )
        rows.append([t.number, reason, t.attempts, *[t.params.get(p) for p in params], t.worker])
    return _table(headers, rows, raw=1)


def _all_table(data: StudyData) -> str:
    params = _table_params(data)
    metrics = _metric_columns(data.trials, data.metric)
    headers = [
        "trial",
        "state",
        data.metric,
        *params,
        *metrics,
        "epochs run",
        "compute (s)",
        "attempts",
        "resumed from epoch",
        "worker",
    ]
    rows = [
        [
            t.number,
            _state(t),
            t.value,
            *[t.params.get(p) for p in params],
            *[t.metrics.get(m) for m in metrics],
            t.epochs_completed,
            t.compute_s,
            t.attempts,
            t.resumed_from_epoch,
            t.worker,
        ]
        for t in data.trials
    ]
    return _table(headers, rows, raw=1)


def page(title: str, body: Sequence[str]) -> str:
    """A complete HTML document with the report's style."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def study_page(
    data: StudyData, config: dict[str, Any], sections: Sequence[Section], top: int
) -> str:
    """The report of one study."""
    stamp = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    nav = " ".join(f'<a href="#{s.key}">{escape(s.title)}</a>' for s in sections)
    body = [
        f"<h1>sparktf study {escape(data.study_name)}: {escape(data.run_dir.name)}</h1>",
        f"<p>Report written {escape(stamp)} by <code>sparktf report</code>.</p>",
        _summary(data, config),
    ]
    if not data.completed:
        body.append(
            '<p class="empty">No trial completed: there is no best value, history, sensitivity '
            "or importance yet. The tables below list what happened to the trials.</p>"
        )
    body.append(f'<nav>{nav} <a href="#trials">Trials</a></nav>')
    body.extend(figure_html(s) for s in sections)
    body.append('<h2 id="trials">Trials</h2>')
    body.append(f"<h3>Top {top} trials by {escape(data.metric)} ({escape(data.direction)})</h3>")
    body.append(_top_table(data, top))
    body.append(f"<h3>Pruned trials ({len(data.with_state(PRUNED))})</h3>")
    body.append(_pruned_table(data))
    body.append(f"<h3>Failed trials ({len(data.with_state(FAILED))})</h3>")
    body.append(_failed_table(data))
    body.append(
        f"<details><summary>All {len(data.trials)} trials</summary>{_all_table(data)}</details>"
    )
    return page(f"sparktf report: {data.run_dir.name}", body)


def compare_page(studies: Sequence[StudyData], section: Section) -> str:
    """The comparison of several studies: the overlaid history and one row per study."""
    headers = [
        "run directory",
        "sampler",
        "pruner",
        "metric",
        "trials",
        "completed",
        "pruned",
        "failed",
        "best",
        "compute (s)",
    ]
    rows = []
    for d in studies:
        best = d.best()
        rows.append(
            [
                str(d.run_dir),
                d.sampler,
                d.pruner,
                f"{d.metric} ({d.direction})",
                len(d.trials),
                len(d.completed),
                len(d.with_state(PRUNED)),
                len(d.with_state(FAILED)),
                best.value if best is not None else None,
                sum(t.compute_s or 0.0 for t in d.trials),
            ]
        )
    body = [
        f"<h1>sparktf: {len(studies)} studies compared</h1>",
        _table(headers, rows),
        figure_html(section),
    ]
    return page("sparktf report: comparison", body)
