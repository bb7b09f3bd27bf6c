"""What a study shows while it runs (a progress display) and when it ends (a summary)."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from sparktf.search import record
from sparktf.tuning.config import TuneConfig
from sparktf.tuning.goals_config import goals_of
from sparktf.tuning.outputs import TuneResult

if TYPE_CHECKING:
    import optuna


class _Active(Protocol):
    def active(self) -> int: ...


class Display:
    """The live progress display: done / running / pruned / failed, best so far, elapsed.

    Args:
        cfg: the study's configuration.
        trials: the number of trials the study runs to.
        enabled: False shows nothing.
    """

    def __init__(self, cfg: TuneConfig, trials: int, enabled: bool) -> None:
        from sparktf.console import progress

        self.cfg = cfg
        self.trials = trials
        self.bar = progress() if enabled else None
        self.task: Any = None
        self.done_at_start: int | None = None  # (a resumed study's finished trials)

    def __enter__(self) -> Display:
        if self.bar is not None:
            self.bar.__enter__()
            self.task = self.bar.add_task("tune", total=self.trials, status="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)

    def event(self, text: str) -> None:
        """Print one line above the display."""
        if self.bar is not None:
            self.bar.console.print(text, markup=False, highlight=False)

    def update(self, study: optuna.Study, dispatcher: _Active) -> None:
        """Refresh the counts and the best value."""
        if self.bar is None or self.task is None:
            return
        recs = record.records(study)
        counts = record.counts(recs)
        done = [r.value for r in recs if r.state == "COMPLETE" and r.value is not None]
        name, direction = next(iter(goals_of(self.cfg).objectives.items()))
        best = (max if direction == "maximize" else min)(done) if done else None
        status = (
            f"running {dispatcher.active()} | pruned {counts.get('PRUNED', 0)} | "
            f"failed {counts.get('FAILED', 0)} | best {name} "
            f"{'-' if best is None else f'{best:.4g}'}"
        )
        finished = sum(n for state, n in counts.items() if record.TrialStatus(state).counts)
        if self.done_at_start is None:
            self.done_at_start = finished
        self.bar.update(
            self.task, completed=finished, status=status, done_at_start=self.done_at_start
        )


def print_summary(res: TuneResult, cfg: TuneConfig, table: bool = True) -> None:
    """The top trials (a table on stderr, with ``table``), then the counts and the best trial
    on stdout."""
    multi = goals_of(cfg).is_multi
    if table and multi:
        _front_table(res, cfg)
    elif table:
        _top_table(res, cfg)
    counts = ", ".join(f"{n} {state.lower().replace('_', ' ')}" for state, n in res.counts.items())
    print(f"trials: {counts or 'none'}; {res.wall_seconds:.1f}s; run directory {res.run_dir}")
    if res.best_params is not None and res.best_value is not None:
        shown = json.dumps(res.best_params, default=str)
        if multi:
            print(f"best (--select {cfg.select}): trial {res.best_trial}")
        first = goals_of(cfg).names[0]
        print(f"best: {first} = {res.best_value:.6g} with {shown}")
        if "test_error" in res.best_metrics:
            acc = res.best_metrics.get("test_accuracy", float("nan"))
            print(f"      test error {res.best_metrics['test_error']:.4f} (accuracy {acc:.4f})")


def _top_table(res: TuneResult, cfg: TuneConfig) -> None:
    from rich.table import Table

    from sparktf.console import print_whole

    df = res.trials
    done = df[df["state"] == "COMPLETE"] if len(df) else df
    if not len(done):
        return
    table = Table(title=f"top trials by {cfg.metric} ({cfg.direction})")
    cols = (
        ["number", "value"]
        + [c for c in df.columns if c.startswith("params_")]
        + [c for c in ("test_error", "train_seconds", "worker_pid") if c in df.columns]
    )
    for c in cols:
        table.add_column(c.removeprefix("params_"))
    top = done.sort_values("value", ascending=cfg.direction == "minimize").head(5)
    for _, row in top.iterrows():
        table.add_row(*[_fmt(row[c]) for c in cols])
    print_whole(table)


def _front_table(res: TuneResult, cfg: TuneConfig) -> None:
    """Several objectives: the Pareto front, best first objective first."""
    from rich.table import Table

    from sparktf.console import print_whole

    front = res.front
    if not len(front):
        return
    objectives = goals_of(cfg).objectives
    first = next(iter(objectives))
    table = Table(title=f"Pareto front ({len(front)} of {len(res.trials)} trials)")
    cols = (
        ["number"]
        + [f"value_{n}" for n in objectives]
        + [c for c in res.trials.columns if c.startswith("params_")]
        + [c for c in ("params", "test_error") if c in front.columns and c not in objectives]
    )
    for c in cols:
        table.add_column(c.removeprefix("params_").removeprefix("value_"))
    top = front.sort_values(f"value_{first}", ascending=objectives[first] == "minimize")
    for _, row in top.iterrows():
        table.add_row(*[_fmt(row[c]) for c in cols])
    print_whole(table)


def _fmt(v: Any) -> str:
    if v is None or v is np.nan:
        return ""
    if isinstance(v, float | np.floating):
        return "" if math.isnan(v) else f"{v:.4g}"
    try:
        import pandas as pd

        if pd.isna(v):
            return ""
    except (TypeError, ValueError):
        pass
    return str(v)
