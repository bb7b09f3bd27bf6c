"""``--resume``: reopen a study's configuration, and re-run what a stopped study left undone."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparktf.errors import ConfigError
from sparktf.rundir import RunDir
from sparktf.search import record
from sparktf.tuning.config import TuneConfig

if TYPE_CHECKING:
    import optuna


def resume_config(out: str | Path | None, changes: Mapping[str, Any]) -> TuneConfig:
    """The saved configuration of the study in ``out``, with the settings that may change.

    Raises:
        ConfigError: no study there, or a setting that may not change was changed.
    """
    if out is None:
        raise ConfigError("--resume needs the run directory of the study to continue")
    run = RunDir(Path(out))
    if not run.path.is_dir():
        raise ConfigError(
            f"cannot resume {run.path}: no such directory (start a new study with --out)"
        )
    return TuneConfig.from_dict(run.read_config()).resumed(changes)


def prepare_resume(study: optuna.Study, log: Callable[[str], None]) -> None:
    """Queue every interrupted (or never started) trial's parameters again, once, as a re-run
    that continues the interrupted trial's checkpoints. Trials left RUNNING by a lost driver
    stay RUNNING: the dispatcher continues them under their own numbers (``orphans``)."""
    trials = study.get_trials(deepcopy=False)
    already = {t.user_attrs.get(record.RERUN_OF) for t in trials}
    requeued = 0
    for t in trials:
        if record.is_interrupted(t) and t.number not in already:
            root = record.lineage(t.user_attrs, t.number)
            attrs = {record.RERUN_OF: t.number, record.LINEAGE: root}
            study.enqueue_trial(t.params, user_attrs=attrs)
            requeued += 1
    running = len(orphans(study))
    if running:
        log(f"resume: {running} trial(s) the stopped driver was running will continue")
    if requeued:
        log(f"resume: {requeued} interrupted or unstarted trial(s) will run again")


def orphans(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Trials the storage holds as RUNNING: a lost driver was running them."""
    import optuna

    return list(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)))
