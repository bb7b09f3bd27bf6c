"""A fast in-memory Optuna study, copied in order to the persistent storage in the background.

Optuna's RDB storage costs 100–400 ms of driver CPU per trial on a small machine (many small
ORM transactions). The dispatcher's loop cannot wait for that when trials last a second, so it
works on an in-memory study (a few ms per trial) and a background thread writes every trial to
the study's storage (SQLite by default) as it starts and as it ends, in the same order.

A study that starts in a new SQLite file can also be *created* by the writer
(``MirroredStudy.fresh``): the first trials then run while the storage is being set up (about
0.15 s of schema creation), since no earlier study can be in a file that does not exist yet.

The storage therefore trails the in-memory study by the queue's length (milliseconds when the
writer keeps up). ``close()`` waits until everything is written. On a lost driver, at most the
last few operations are missing; ``--resume`` treats a trial written as running but never
finished as interrupted and runs it again.
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sparktf.search.optuna_compat import (
    frozen_copy,
    set_trial_attrs,
    sqlite_engine,
    storage_of,
    study_id_of,
    trial_id_of,
)
from sparktf.search.study import create_study

if TYPE_CHECKING:
    import optuna

log = logging.getLogger("sparktf.mirror")


def direction_spec(study: optuna.Study) -> str | dict[str, str] | list[str]:
    """A stored study's direction, or its objectives' names and directions (see
    ``create_study``)."""
    dirs = [d.name.lower() for d in study.directions]
    if len(dirs) == 1:
        return dirs[0]
    names = study.metric_names
    return dict(zip(names, dirs, strict=True)) if names else dirs


class MirroredStudy:
    """An in-memory copy of ``persistent`` that writes its changes back.

    Args:
        persistent: the study in its real storage (after any resume bookkeeping and enqueues).
        sampler: the sampler of the in-memory study.
        pruner: the pruner of the in-memory study.

    Attributes:
        study: the in-memory study to ask, tell, report and prune on.
    """

    def __init__(
        self,
        persistent: optuna.Study,
        sampler: optuna.samplers.BaseSampler,
        pruner: optuna.pruners.BasePruner,
    ) -> None:
        self._setup(persistent.study_name, direction_spec(persistent), sampler, pruner)
        self.persistent: optuna.Study | None = persistent
        import optuna

        for t in persistent.get_trials(deepcopy=True):
            if t.state == optuna.trial.TrialState.WAITING:
                fixed = t.system_attrs.get("fixed_params", t.params)  # enqueued parameters
                self.study.enqueue_trial(dict(fixed), user_attrs=t.user_attrs)
                number = self.study.get_trials(deepcopy=False)[-1].number
                self._waiting.add(number)
            else:
                self.study.add_trial(t)
                number = self.study.get_trials(deepcopy=False)[-1].number
            self._ids[number] = trial_id_of(t)
        self._thread.start()

    @classmethod
    def fresh(
        cls,
        create: Callable[[], optuna.Study],
        study_name: str,
        direction: Any,
        sampler: optuna.samplers.BaseSampler,
        pruner: optuna.pruners.BasePruner,
    ) -> MirroredStudy:
        """A new study whose storage ``create()`` makes in the writer thread, before it writes
        anything else. Only for a storage that cannot hold the study yet (a new file): the
        in-memory study starts at once. If ``create()`` fails, nothing is written and
        ``close()`` returns the error."""
        self = cls.__new__(cls)
        self._setup(study_name, direction, sampler, pruner)
        self.persistent = None
        self._queue.put(("create", create))
        self._thread.start()
        return self

    def _setup(
        self,
        study_name: str,
        direction: Any,
        sampler: optuna.samplers.BaseSampler,
        pruner: optuna.pruners.BasePruner,
    ) -> None:
        import optuna

        from sparktf.console import quiet_optuna

        quiet_optuna()
        self.study = create_study(
            optuna.storages.InMemoryStorage(), study_name, direction, sampler, pruner
        )
        self._ids: dict[int, int] = {}  # in-memory trial number -> persistent trial id
        self._waiting: set[int] = set()  # numbers whose persistent twin is still WAITING
        self._queue: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self._errors: list[str] = []
        self._thread = threading.Thread(
            target=self._write_loop, daemon=True, name="sparktf-storage"
        )

    def enqueue(self, params: Mapping[str, Any]) -> None:
        """Queue a trial with fixed parameters, in memory and in the storage."""
        self.study.enqueue_trial(dict(params))
        number = self.study.get_trials(deepcopy=False)[-1].number
        self._queue.put(("enqueue", (number, dict(params))))

    def add(self, trial: optuna.trial.FrozenTrial) -> None:
        """Add a finished trial (e.g. from an earlier study), in memory and in the storage."""
        self.study.add_trial(trial)
        self._queue.put(("add", trial))

    # -- called by the dispatcher -------------------------------------------------------------

    def _snapshot(self, trial: optuna.Trial) -> optuna.trial.FrozenTrial:
        return frozen_copy(self.study, trial)

    def started(self, trial: optuna.Trial) -> None:
        """Record a trial that was just asked (with its parameters) in the storage."""
        self._queue.put(("start", self._snapshot(trial)))

    def finished(self, trial: optuna.Trial) -> None:
        """Record a trial that was just told (state, value, curve, attributes)."""
        self._queue.put(("finish", self._snapshot(trial)))

    def close(self) -> list[str]:
        """Write everything still queued; return the errors the writer met (if any)."""
        self._queue.put(None)
        self._thread.join()
        self._checkpoint()
        return list(self._errors)

    def _checkpoint(self) -> None:
        """Fold SQLite's write-ahead log into the database file, so that the run directory's
        ``study.db`` is complete on its own (e.g. when copied) once the study ends."""
        engine = sqlite_engine(self.persistent) if self.persistent is not None else None
        if engine is None:
            return
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        except Exception as exc:  # the data is safe in the log either way
            self._errors.append(f"could not checkpoint the SQLite log: {exc}")

    # -- the writer thread --------------------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            op, arg = item
            if op == "create":
                try:
                    self.persistent = arg()
                except Exception as exc:
                    msg = f"could not create the study's storage; nothing was saved to it: {exc}"
                    log.warning(msg)
                    self._errors.append(msg)
                continue
            if self.persistent is None:  # its creation failed (reported once)
                continue
            try:
                if op == "enqueue":
                    number, params = arg
                    self.persistent.enqueue_trial(params)
                    self._ids[number] = trial_id_of(self.persistent.get_trials(deepcopy=False)[-1])
                    self._waiting.add(number)
                elif op == "add":
                    storage = storage_of(self.persistent)
                    storage.create_new_trial(study_id_of(self.persistent), template_trial=arg)
                elif op == "start":
                    self._write_start(arg)
                else:
                    self._write_finish(arg)
            except Exception as exc:  # keep the study going; report at close()
                what = f"trial {arg.number}" if op in ("start", "finish") else f"an {op}ed trial"
                msg = f"could not write {what} to the storage: {exc}"
                log.warning(msg)
                self._errors.append(msg)

    def _write_start(self, frozen: optuna.trial.FrozenTrial) -> None:
        import optuna

        assert self.persistent is not None
        storage = storage_of(self.persistent)
        if frozen.number in self._waiting:  # an enqueued trial of the storage starts running
            tid = self._ids[frozen.number]
            storage.set_trial_state_values(tid, optuna.trial.TrialState.RUNNING)
            for name, value in frozen.params.items():
                dist = frozen.distributions[name]
                storage.set_trial_param(tid, name, dist.to_internal_repr(value), dist)
            # every parameter it runs with (fixed ones too): a lost driver's --resume needs them
            set_trial_attrs(self.persistent, tid, frozen.user_attrs, system=False)
            self._waiting.discard(frozen.number)
            return
        template = copy.deepcopy(frozen)
        template.state = optuna.trial.TrialState.RUNNING
        template.datetime_complete = None
        template.values = None
        tid = storage.create_new_trial(study_id_of(self.persistent), template_trial=template)
        self._ids[frozen.number] = tid

    def _write_finish(self, frozen: optuna.trial.FrozenTrial) -> None:
        if frozen.number not in self._ids or frozen.number in self._waiting:
            self._write_start(frozen)
        tid = self._ids[frozen.number]
        assert self.persistent is not None
        storage = storage_of(self.persistent)
        for step, value in sorted(frozen.intermediate_values.items()):
            storage.set_trial_intermediate_value(tid, step, value)
        set_trial_attrs(self.persistent, tid, frozen.user_attrs, system=False)
        set_trial_attrs(self.persistent, tid, frozen.system_attrs, system=True)
        storage.set_trial_state_values(tid, frozen.state, frozen.values)
