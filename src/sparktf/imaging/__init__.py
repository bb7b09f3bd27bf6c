"""Images for datasets and inference alike: decoding, resizing, sizes, and why one failed.

Training (``sparktf tune --data``) and prediction decode images the same way, so a model sees
the same pixels in both.
"""

from sparktf.imaging.decode import decode_image, from_pixels, open_checked, sniff_format, to_batch
from sparktf.imaging.reasons import Reason, RowError
from sparktf.imaging.spec import DEFAULT_MAX_PIXELS, INTERPOLATIONS, ImageSpec, parse_size

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "INTERPOLATIONS",
    "ImageSpec",
    "Reason",
    "RowError",
    "decode_image",
    "from_pixels",
    "open_checked",
    "parse_size",
    "sniff_format",
    "to_batch",
]
