"""What images become: the model input's size, channels and scaling, and sizes as text.

An :class:`ImageSpec` says how encoded images are turned into the model's input tensor (by
:mod:`sparktf.imaging.decode`); :func:`parse_size` reads ``--input-size``/``--image-size``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sparktf.errors import ConfigError

INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
DEFAULT_MAX_PIXELS = 40_000_000  # e.g. 8000 x 5000; PIL's own warning threshold is ~89 MP


@dataclass(frozen=True)
class ImageSpec:
    """How inputs become the model's input tensor.

    Attributes:
        height: rows of the model input.
        width: columns of the model input.
        channels: 1 (grayscale) or 3 (RGB).
        scale: multiplier applied to the uint8 pixels (``1/255`` maps them into [0, 1]).
        offset: added after scaling.
        interpolation: PIL resampling filter used when the size differs (Keras' names).
        preprocess: a ``keras.applications`` module whose ``preprocess_input`` replaces
            ``scale``/``offset`` (e.g. ``"mobilenet_v2"``), or ``None``.
        max_pixels: images with more pixels are refused (decompression-bomb guard).
    """

    height: int
    width: int
    channels: int = 3
    scale: float = 1.0 / 255.0
    offset: float = 0.0
    interpolation: str = "bilinear"
    preprocess: str | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        if self.height <= 0 or self.width <= 0:
            raise ConfigError(
                f"input size must be positive, got {self.height}x{self.width} "
                "(set it with --input-size HEIGHTxWIDTH)"
            )
        if self.channels not in (1, 3):
            raise ConfigError(
                f"images can be fed as 1 (grayscale) or 3 (RGB) channels, the model wants "
                f"{self.channels} (set --channels 1 or 3 if the model's input allows it)"
            )
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(
                f"unknown interpolation {self.interpolation!r}: expected one of "
                f"{', '.join(INTERPOLATIONS)}"
            )
        if self.max_pixels <= 0:
            raise ConfigError(f"--max-pixels must be positive, got {self.max_pixels}")

    @property
    def color_mode(self) -> str:
        """Keras' name of the colour mode: ``"grayscale"`` or ``"rgb"``."""
        return "grayscale" if self.channels == 1 else "rgb"

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape of one model input: ``(height, width, channels)``."""
        return (self.height, self.width, self.channels)


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``"224"`` or ``"224x224"`` (HEIGHTxWIDTH) into ``(height, width)``.

    Raises:
        ConfigError: not one or two positive integers.
    """
    m = re.fullmatch(r"\s*(\d+)\s*(?:[x,]\s*(\d+)\s*)?", text)
    if not m or int(m.group(1)) <= 0 or (m.group(2) is not None and int(m.group(2)) <= 0):
        raise ConfigError(
            f"invalid input size {text!r}: expected HEIGHTxWIDTH such as 224x224 (or one number)"
        )
    h = int(m.group(1))
    return h, int(m.group(2)) if m.group(2) else h
