"""Image decoding and resizing on the executors, the same way Keras' own preprocessing does it.

:func:`decode_image` turns encoded bytes (JPEG, PNG, GIF, BMP, TIFF, WebP, ...) into a uint8
array of shape ``(height, width, channels)`` exactly as ``keras.utils.load_img(...,
color_mode=..., target_size=..., interpolation=...)`` followed by ``img_to_array`` would (for
8-bit images), and :func:`to_batch` scales a stack of them into the model's float input. What
Keras would not do safely, sparktf does: decompression bombs are refused before any pixel is
decoded, and 16-bit images are scaled to 8 bits instead of being clipped.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from sparktf.imaging.reasons import Reason, RowError
from sparktf.imaging.spec import ImageSpec

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage


def _resample(name: str) -> int:
    from PIL import Image

    return {
        "nearest": Image.Resampling.NEAREST,
        "bilinear": Image.Resampling.BILINEAR,
        "bicubic": Image.Resampling.BICUBIC,
        "lanczos": Image.Resampling.LANCZOS,
        "box": Image.Resampling.BOX,
        "hamming": Image.Resampling.HAMMING,
    }[name]


def _sixteen_to_eight(img: PILImage) -> PILImage:
    """Scale a 16/32-bit integer or float grayscale image to 8 bits ("L") without clipping."""
    from PIL import Image

    arr = np.asarray(img)
    if arr.dtype.kind == "f":
        top = 1.0 if float(np.nanmax(arr, initial=0.0)) <= 1.0 else 255.0
        out = np.clip(np.nan_to_num(arr) * (255.0 / top), 0, 255)
    else:
        top = 65535.0 if int(arr.max(initial=0)) > 255 else 255.0
        out = np.clip(arr.astype(np.float64) * (255.0 / top), 0, 255)
    return Image.fromarray(np.round(out).astype(np.uint8), "L")


_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


def sniff_format(data: bytes) -> str | None:
    """The image format that ``data``'s first bytes announce, or ``None``."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return None


def open_checked(data: bytes, max_pixels: int) -> PILImage:
    """Open encoded image bytes with PIL, refusing what cannot be decoded safely.

    Only the header is parsed here; pixels are decoded by the caller.

    Raises:
        RowError: empty input, not an image, or more than ``max_pixels`` pixels.
    """
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise RowError(Reason.EMPTY_FILE, "the input has 0 bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise RowError(
            Reason.IMAGE_TOO_LARGE,
            f"refused as a decompression bomb: {exc} (sparktf's limit: --max-pixels {max_pixels})",
        ) from exc
    except UnidentifiedImageError as exc:
        fmt = sniff_format(data)
        if fmt is not None:
            raise RowError(
                Reason.CORRUPT_IMAGE,
                f"starts like a {fmt} file but its header is broken ({len(data)} bytes)",
            ) from exc
        head = data[:12]
        raise RowError(
            Reason.NOT_AN_IMAGE,
            f"not a readable image format ({len(data)} bytes starting with {head!r})",
        ) from exc
    except Exception as exc:  # PIL raises many kinds on malformed headers
        raise RowError(Reason.CORRUPT_IMAGE, f"{type(exc).__name__}: {exc}") from exc
    width, height = img.size
    if width * height > max_pixels:
        raise RowError(
            Reason.IMAGE_TOO_LARGE,
            f"{width}x{height} = {width * height} pixels is over the limit of {max_pixels} "
            "(a decompression-bomb guard; raise it with --max-pixels)",
        )
    return img


def decode_image(data: bytes, spec: ImageSpec) -> np.ndarray:
    """Decode, convert and resize one encoded image.

    Colour handling follows ``keras.utils.load_img``: grayscale models get ``convert("L")``,
    RGB models ``convert("RGB")`` (RGBA, CMYK, palette, LA, ... all converted); 16-bit and
    float grayscale images are first scaled to 8 bits. The resize is PIL's, with
    ``spec.interpolation``, skipped when the size already matches.

    Args:
        data: the encoded image.
        spec: target size, channels, interpolation, pixel limit.

    Returns:
        uint8 array of shape ``spec.shape``.

    Raises:
        RowError: the bytes are empty, not an image, truncated/corrupt or too large.
    """
    img = open_checked(data, spec.max_pixels)
    return _convert_resize(img, spec)


def _convert_resize(img: PILImage, spec: ImageSpec) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # palette-with-transparency etc.
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
                img = _sixteen_to_eight(img)
            target = "L" if spec.channels == 1 else "RGB"
            if img.mode != target:
                img = img.convert(target)
            if img.size != (spec.width, spec.height):
                img = img.resize((spec.width, spec.height), _resample(spec.interpolation))
            arr = np.asarray(img, dtype=np.uint8)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise RowError(Reason.CORRUPT_IMAGE, f"{exc}") from exc
    except Exception as exc:
        raise RowError(Reason.DECODE_ERROR, f"{type(exc).__name__}: {exc}") from exc
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return arr


def from_pixels(pixels: np.ndarray, spec: ImageSpec) -> np.ndarray:
    """Convert and resize an already decoded uint8 image (e.g. one image of an IDX file).

    Args:
        pixels: array of shape (rows, cols) or (rows, cols, 3).
        spec: target size and channels.

    Returns:
        uint8 array of shape ``spec.shape``.
    """
    from PIL import Image

    arr = np.asarray(pixels)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.dtype != np.uint8:
        img = _sixteen_to_eight(Image.fromarray(arr.astype(np.float32), "F"))
    else:
        img = Image.fromarray(arr)
    return _convert_resize(img, spec)


def to_batch(images: Sequence[np.ndarray], spec: ImageSpec) -> np.ndarray:
    """Stack decoded images into the model's float32 input batch.

    Args:
        images: uint8 arrays of shape ``spec.shape``.
        spec: scaling, or the ``keras.applications`` preprocessing to apply.

    Returns:
        float32 array of shape ``(len(images), *spec.shape)``.
    """
    batch = np.stack(images).astype(np.float32)
    if spec.preprocess:
        import importlib

        module = importlib.import_module(f"keras.applications.{spec.preprocess}")
        return np.asarray(module.preprocess_input(batch), dtype=np.float32)
    if spec.scale != 1.0:
        batch *= np.float32(spec.scale)
    if spec.offset:
        batch += np.float32(spec.offset)
    return batch
