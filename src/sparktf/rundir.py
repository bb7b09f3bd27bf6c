"""The run directory of a ``sparktf tune`` study: one place that names its files.

Layout::

    RUN/
      config.json       full configuration + library versions (TuneConfig.to_dict())
      study.db          Optuna SQLite storage (unless --storage names another RDB URL)
      trials.csv        one row per trial (columns: search.record.COLUMNS, params_*, metrics)
      best/model.keras  best model (Keras format), with best/params.json, best/metrics.json
      best/preprocessing.json  how inputs are prepared: input_shape, scale, class_names
      trials/N/         several objectives: the model of each Pareto-front trial N (as best/);
                        best/ is a copy of the one --select chose
      report.html, *.png  written by ``sparktf report``
      mlflow.json       the study's MLflow parent run (tracking URI, experiment, run id), --mlflow
      checkpoints/<study>/trial-N/  running trials' latest checkpoints (the default store)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparktf.errors import ConfigError

CONFIG = "config.json"
DATABASE = "study.db"
TRIALS_CSV = "trials.csv"
BEST = "best"
BEST_MODEL = "model.keras"
BEST_PARAMS = "params.json"
BEST_METRICS = "metrics.json"
PREPROCESSING = "preprocessing.json"
MLFLOW_RUN = "mlflow.json"
TRIALS = "trials"
CHECKPOINTS = "checkpoints"

# trials.csv's columns: sparktf.search.record.COLUMNS, then params_*, then the metrics.


@dataclass(frozen=True)
class RunDir:
    """Paths inside one run directory."""

    path: Path

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def database(self) -> Path:
        return self.path / DATABASE

    @property
    def trials_csv(self) -> Path:
        return self.path / TRIALS_CSV

    @property
    def best(self) -> Path:
        return self.path / BEST

    def trial(self, number: int) -> Path:
        """Where a multi-objective study keeps trial ``number``'s model (laid out as best/)."""
        return self.path / TRIALS / str(number)

    @property
    def mlflow_run(self) -> Path:
        return self.path / MLFLOW_RUN

    @property
    def checkpoints(self) -> Path:
        """The default checkpoint store of the study's trials."""
        return self.path / CHECKPOINTS

    @property
    def sqlite_url(self) -> str:
        """The URL of the run directory's own SQLite storage (``study.db``)."""
        return f"sqlite:///{self.database.resolve()}"

    @property
    def storage_url(self) -> str:
        """The study's storage URL, from config.json when it names one, else the SQLite file."""
        if self.config.is_file():
            url = self.read_config().get("storage")
            if url:
                return str(url)
        return self.sqlite_url

    def read_config(self) -> dict[str, Any]:
        """The run's config.json.

        Raises:
            ConfigError: the directory is not a sparktf run directory.
        """
        if not self.config.is_file():
            raise ConfigError(
                f"{self.path} is not a sparktf run directory: {CONFIG} is missing "
                "(create one with 'sparktf tune --out DIR')"
            )
        try:
            data = json.loads(self.config.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{self.config} is unreadable or not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{self.config} must hold a JSON object")
        return data


def trial_model_dir(run: str | Path, number: int) -> Path:
    """``predict --model RUN --trial N``: the directory of trial N's model in run ``RUN``.

    Raises:
        ConfigError: RUN keeps no model of trial N (the trials it keeps are named).
    """
    where = RunDir(Path(run)).trial(number)
    if (where / BEST_MODEL).is_file():
        return where
    folder = Path(run) / TRIALS
    kept = (
        sorted(
            (
                int(d.name)
                for d in folder.iterdir()
                if d.name.isdigit() and (d / BEST_MODEL).is_file()
            ),
        )
        if folder.is_dir()
        else []
    )
    shown = (
        ", ".join(map(str, kept)) if kept else "none (a study of one objective keeps best/ only)"
    )
    raise ConfigError(
        f"--trial {number}: {run} keeps no model of trial {number}; it keeps the models of its "
        f"Pareto front: {shown}"
    )
