"""``PredictConfig``: every setting of a prediction run, in one place (CLI and Python API)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from sparktf.errors import ConfigError
from sparktf.imaging import DEFAULT_MAX_PIXELS, INTERPOLATIONS
from sparktf.inference.urls import FetchConfig

INPUT_FORMATS = ("auto", "files", "urls", "parquet", "csv", "idx")


@dataclass(frozen=True)
class PredictConfig:
    """Settings of a prediction run.

    Attributes:
        input_format: ``auto`` (by the input's form), ``files``, ``urls``, ``parquet``,
            ``csv``, ``idx``.
        image_column: the image column of a table (bytes, or paths relative to the table's
            folder) or the bytes column of a DataFrame (default: the only binary column, or
            ``content``/``image``/``bytes``; in a table without one, a string column named
            ``path``/``image``/``file``/``filename``).
        url_column: the URL column of a DataFrame of URLs.
        id_column: the column copied into the output's ``id`` (default: ``path``/``url``/``id``
            when present, else the row's position).
        input_tensor: GraphDef/SavedModel input tensor name (``DecodeJpeg/contents:0``).
        output_tensor: GraphDef/SavedModel output tensor name (``softmax:0``).
        signature: SavedModel signature (default ``serving_default``).
        weights: ``keras.applications`` weights: a file, ``imagenet`` (download) or ``none``
            (random weights; only useful for timing).
        safe_mode: load Keras files with ``safe_mode`` (refuses Lambda layers' code).
        labels: label file (one label per line, class-index order).
        input_size: ``(height, width)`` overriding the model's.
        channels: 1 or 3, overriding the model's.
        scale: pixel multiplier overriding the model's (default 1/255).
        offset: added after scaling.
        interpolation: resize filter (Keras names; default ``bilinear``).
        max_pixels: larger images are refused as decompression bombs.
        top_k: how many (label, class_index, probability) triples per row.
        probabilities: also output the full probability vector.
        batch_size: images per model call (independent of Arrow's batch size).
        partitions: Spark partitions of the input (default: 4 per task slot, and no more
            than a folder or a stream's micro-batch has batches of ``batch_size`` images).
        fetch: URL download settings.
    """

    input_format: str = "auto"
    image_column: str | None = None
    url_column: str | None = None
    id_column: str | None = None
    input_tensor: str | None = None
    output_tensor: str | None = None
    signature: str | None = None
    weights: str | None = None
    safe_mode: bool = True
    labels: str | None = None
    input_size: tuple[int, int] | None = None
    channels: int | None = None
    scale: float | None = None
    offset: float = 0.0
    interpolation: str = "bilinear"
    max_pixels: int = DEFAULT_MAX_PIXELS
    top_k: int = 5
    probabilities: bool = False
    batch_size: int = 64
    partitions: int | None = None
    fetch: FetchConfig = field(default_factory=FetchConfig)

    def __post_init__(self) -> None:
        if self.input_format not in INPUT_FORMATS:
            raise ConfigError(
                f"unknown input format {self.input_format!r}: expected one of "
                f"{', '.join(INPUT_FORMATS)}"
            )
        if self.top_k <= 0:
            raise ConfigError(f"--top-k must be a positive number of labels, got {self.top_k}")
        if self.batch_size <= 0:
            raise ConfigError(f"--batch-size must be positive, got {self.batch_size}")
        if self.partitions is not None and self.partitions <= 0:
            raise ConfigError(f"--partitions must be positive, got {self.partitions}")
        if self.channels is not None and self.channels not in (1, 3):
            raise ConfigError(f"--channels must be 1 or 3, got {self.channels}")
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(
                f"unknown --interpolation {self.interpolation!r}: expected one of "
                f"{', '.join(INTERPOLATIONS)}"
            )
        if self.max_pixels <= 0:
            raise ConfigError(f"--max-pixels must be positive, got {self.max_pixels}")

    def with_options(self, **options: Any) -> PredictConfig:
        """A copy with some settings changed; URL settings (``timeout``, ``retries``,
        ``max_bytes``, ``fetch_threads``) may be given flat.

        Raises:
            ConfigError: an unknown option name or an invalid value.
        """
        fetch_keys = {
            "timeout": "timeout",
            "retries": "retries",
            "max_bytes": "max_bytes",
            "fetch_threads": "threads",
        }
        fetch_opts = {fetch_keys[k]: options.pop(k) for k in list(options) if k in fetch_keys}
        known = {f.name for f in fields(self)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(
                f"unknown predict option(s) {', '.join(unknown)}: expected some of "
                f"{', '.join(sorted(known | set(fetch_keys)))}"
            )
        cfg = replace(self, **options)
        if fetch_opts:
            cfg = replace(cfg, fetch=replace(cfg.fetch, **fetch_opts))
        return cfg

    @classmethod
    def from_options(cls, **options: Any) -> PredictConfig:
        """A config from keyword options (see :meth:`with_options`)."""
        return cls().with_options(**options)
