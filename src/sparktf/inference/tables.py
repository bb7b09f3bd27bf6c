"""Predict with a table model (``sparktf tune --model mlp`` runs): CSV/Parquet rows in, one row
out per input row with the input's other columns (its id among them), ``top_k`` class names and
``error``. The model holds its own standardisation, so rows go in as they are."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparktf.errors import ConfigError
from sparktf.imaging import Reason, RowError
from sparktf.inference.config import PredictConfig
from sparktf.rundir import BEST, BEST_MODEL, PREPROCESSING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from sparktf.inference.writing import PredictSummary


@dataclass(frozen=True)
class TableModel:
    """A run's best table model: its file, the feature columns it reads, its classes."""

    path: Path
    features: tuple[str, ...]
    class_names: tuple[str, ...]


def table_model(model: str | Path) -> TableModel | None:
    """The table model of a ``sparktf tune`` run directory (or its ``best/``), else None."""
    p = Path(str(model)).expanduser()
    for best in (p / BEST, p):
        prep = best / PREPROCESSING
        if (best / BEST_MODEL).is_file() and prep.is_file():
            try:
                data = json.loads(prep.read_text())
            except (OSError, json.JSONDecodeError):
                return None
            features = data.get("feature_columns") if isinstance(data, dict) else None
            if not features:
                return None
            names = tuple(str(c) for c in data.get("class_names") or ())
            return TableModel(best / BEST_MODEL, tuple(map(str, features)), names)
    return None


def _format(source: str) -> str:
    from sparktf.datasets.files import Location
    from sparktf.datasets.tables import table_format

    loc = Location(source)
    kind = loc.kind() if loc.is_local else "file"
    if kind == "missing":
        raise ConfigError(f"--input {source}: no such file or directory")
    fmt = table_format(loc, kind)
    if fmt is None:
        raise ConfigError(
            f"this model reads table rows: --input {source} must be a .csv or .parquet table "
            "with the columns it was trained on"
        )
    return fmt


def check_columns(source: str, tm: TableModel) -> str:
    """The input's format, after checking it has every feature column, numeric.

    Raises:
        ConfigError: not a table, a feature column missing or not numeric.
    """
    from sparktf.datasets.files import Location
    from sparktf.datasets.tables import columns_of, is_numeric

    fmt = _format(source)
    if not Location(source).is_local:
        return fmt  # checked by Spark when it reads the table
    types = columns_of(Location(source), fmt)
    missing = [c for c in tm.features if c not in types]
    if missing:
        raise ConfigError(
            f"--input {source} lacks the feature column(s) {', '.join(missing)} the model was "
            f"trained on (it needs {', '.join(tm.features)}; the input has {', '.join(types)})"
        )
    bad = [f"{c} ({types[c]})" for c in tm.features if not is_numeric(types[c])]
    if bad:
        raise ConfigError(f"--input {source}: feature column(s) {', '.join(bad)} are not numeric")
    return fmt


_MODELS: dict[str, Any] = {}  # per Python worker: loaded models by content hash


def _load(blob: bytes) -> Any:
    key = hashlib.sha256(blob).hexdigest()
    if key not in _MODELS:
        from sparktf.console import silence_libraries

        silence_libraries()  # TensorFlow's start-up lines and warnings, unless verbose
        from sparktf.keras.saving import model_from_bytes

        _MODELS.clear()
        _MODELS[key] = model_from_bytes(blob, safe_mode=True)
    return _MODELS[key]


def _id_column(columns: list[str], cfg: PredictConfig, tm: TableModel) -> str | None:
    if cfg.id_column:
        if cfg.id_column not in columns:
            raise ConfigError(f"--id-column {cfg.id_column!r} is not a column of the input")
        return cfg.id_column
    from sparktf.datasets.tables import is_id_name

    named = [c for c in columns if c not in tm.features and is_id_name(c)]
    return named[0] if named else None


def _read(spark: SparkSession, source: str, fmt: str) -> DataFrame:
    if fmt == "csv":
        return spark.read.csv(source, header=True, inferSchema=True)
    return spark.read.parquet(source)


def _top_k(probs: Any, k: int, names: tuple[str, ...]) -> list[dict[str, Any]]:
    import numpy as np

    order = np.argsort(-probs)[:k]
    return [
        {
            "label": names[i] if i < len(names) else str(i),
            "class_index": int(i),
            "probability": float(probs[i]),
        }
        for i in order
    ]


def _predictor(
    blob: bytes, tm: TableModel, cfg: PredictConfig, kept: list[str], id_col: str | None
) -> Any:
    features, names = list(tm.features), tm.class_names

    def run(frames: Iterator[Any]) -> Iterator[Any]:
        import numpy as np

        model = _load(blob)
        for pdf in frames:
            out = pdf[kept].copy()
            ids = pdf[id_col].astype(str) if id_col else pdf["__sparktf_row"].astype(str)
            out.insert(0, "id", ids.to_numpy())
            x = pdf[features].to_numpy(dtype=np.float32, na_value=np.nan)
            empty = np.isnan(x).any(axis=1)
            probs = model.predict(np.nan_to_num(x), batch_size=cfg.batch_size, verbose=0)
            out["top_k"] = [
                None if e else _top_k(p, cfg.top_k, names)
                for p, e in zip(probs, empty, strict=True)
            ]
            if cfg.probabilities:
                out["probabilities"] = [
                    None if e else [float(v) for v in p] for p, e in zip(probs, empty, strict=True)
                ]
            missing = RowError(Reason.MISSING_VALUE, "a feature column is empty in this row")
            out["error"] = [missing.text if e else None for e in empty]
            yield out

    return run


def predict_table(
    source: str, tm: TableModel, cfg: PredictConfig, spark: SparkSession, fmt: str
) -> DataFrame:
    """The predictions of ``tm`` for every row of the table ``source`` (lazy)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from sparktf.inference.partition import result_type

    df = _read(spark, source, fmt)
    missing = [c for c in tm.features if c not in df.columns]
    if missing:
        raise ConfigError(f"--input {source} lacks the feature column(s) {', '.join(missing)}")
    id_col = _id_column(df.columns, cfg, tm)
    if id_col is None:
        df = df.withColumn("__sparktf_row", F.monotonically_increasing_id())
    kept = [c for c in df.columns if c not in tm.features and c not in ("id", "__sparktf_row")]
    kept = [c for c in kept if c not in ("top_k", "probabilities", "error")]
    schema = T.StructType(
        [
            T.StructField("id", T.StringType()),
            *(df.schema[c] for c in kept),
            *result_type(cfg.probabilities).fields,
        ]
    )
    blob = tm.path.read_bytes()
    return df.mapInPandas(_predictor(blob, tm, cfg, kept, id_col), schema)


def run_table_predict(
    source: str,
    tm: TableModel,
    out: str | None,
    cfg: PredictConfig,
    spark: SparkSession,
    overwrite: bool = False,
    progress: bool = True,
) -> PredictSummary:
    """Predict every row of ``source`` and write the rows to ``out`` (as ``run_predict``)."""
    from sparktf.inference.writing import write_predictions

    fmt = check_columns(source, tm)
    df = predict_table(source, tm, cfg, spark, fmt)
    return write_predictions(df, out, overwrite=overwrite, progress=progress)
