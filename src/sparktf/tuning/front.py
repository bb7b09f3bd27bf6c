"""A multi-objective study's result: its Pareto front, and the model ``--select`` saves as best.

While the study runs, every completed trial's model is kept in ``RUN/trials/N/``. At its end,
the models of the trials off the front are removed, and the chosen front member's directory is
copied to ``RUN/best/`` (what ``predict --model RUN`` and ``--register-model`` use);
``predict --model RUN --trial N`` uses any front member's.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING

from sparktf.rundir import BEST_MODEL, TRIALS
from sparktf.search import record
from sparktf.search.multi import Selection, select
from sparktf.tuning.config import TuneConfig
from sparktf.tuning.goals_config import goals_of

if TYPE_CHECKING:
    import optuna


def front_records(study: optuna.Study) -> list[record.TrialRecord]:
    """The trials on the Pareto front (completed, feasible), by number."""
    return [r for r in record.records(study) if r.pareto]


def choose(recs: list[record.TrialRecord], direction: str, how: Selection) -> int | None:
    """The front member ``how`` chooses (see :func:`sparktf.search.multi.select`)."""
    members = [(r.number, r.score, r.metrics.get("params")) for r in recs if r.value is not None]
    return select(members, direction, how)


def settle_front(cfg: TuneConfig, study: optuna.Study, say: Callable[[str], None]) -> int | None:
    """Keep the front's models, copy the chosen one to ``best/``; return its number."""
    run = cfg.run_dir
    front = front_records(study)
    first = goals_of(cfg).directions[0]
    chosen = choose(front, first, Selection.parse(cfg.select))
    on_front = {r.number for r in front}
    folder = run.path / TRIALS
    if folder.is_dir():
        for d in folder.iterdir():
            if d.is_dir() and d.name.isdigit() and int(d.name) not in on_front:
                shutil.rmtree(d, ignore_errors=True)
    if chosen is None:
        return None
    source = run.trial(chosen)
    if source.is_dir():
        tmp = run.path / ".best.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp)
        shutil.rmtree(run.best, ignore_errors=True)
        tmp.rename(run.best)
    elif cfg.objective_kind != "function":
        say(f"warning: the model of trial {chosen} was not saved; best/ is not updated")
    kept = (run.trial(chosen) / BEST_MODEL).is_file()
    say(
        f"Pareto front: {len(front)} trial(s); --select {cfg.select} chose trial {chosen}"
        + (f" (the front's models are in {folder})" if kept else "")
    )
    return chosen
