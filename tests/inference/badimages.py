"""Broken and unusual image files for the "bad inputs never fail the job" tests."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from tests.inference.conftest import encode, photo

# file name -> the reason code its row must carry (None: converted and predicted)
EXPECTED: dict[str, str | None] = {
    "empty.png": "empty_file",
    "text.jpg": "not_an_image",
    "truncated.jpg": "corrupt_image",
    "truncated.png": "corrupt_image",
    "bad_header.jpg": "corrupt_image",
    "bomb.png": "image_too_large",
    "gray.png": None,
    "rgba.png": None,
    "cmyk.jpg": None,
    "sixteen_bit.png": None,
    "palette.gif": None,
    "gray_alpha.png": None,
}


def png_with_size(width: int, height: int) -> bytes:
    """A valid small PNG whose header claims ``width`` x ``height`` (a decompression bomb's
    header: PIL must refuse it before decoding any pixel)."""
    small = encode(np.zeros((4, 4), np.uint8), "PNG")
    ihdr_at = 8
    length = struct.unpack(">I", small[ihdr_at : ihdr_at + 4])[0]
    body = bytearray(small[ihdr_at + 8 : ihdr_at + 8 + length])
    body[0:8] = struct.pack(">II", width, height)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(body)) & 0xFFFFFFFF)
    return small[: ihdr_at + 8] + bytes(body) + crc + small[ihdr_at + 12 + length :]


def write_bad_images(directory: Path) -> dict[str, str | None]:
    """Write every file of :data:`EXPECTED` into ``directory``; return EXPECTED."""
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    pic = photo(40, 50, seed=7)
    jpeg = encode(pic, "JPEG")
    png = encode(pic, "PNG")
    (directory / "empty.png").write_bytes(b"")
    (directory / "text.jpg").write_text("this is a text file, not a JPEG\n")
    (directory / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (directory / "truncated.png").write_bytes(png[: len(png) * 3 // 5])
    (directory / "bad_header.jpg").write_bytes(jpeg[:20] + b"\x00" * 200)
    (directory / "bomb.png").write_bytes(png_with_size(30000, 30000))
    (directory / "gray.png").write_bytes(encode(pic[:, :, 0], "PNG"))
    rgba = np.dstack([pic, np.full(pic.shape[:2], 128, np.uint8)])
    (directory / "rgba.png").write_bytes(encode(rgba, "PNG"))
    Image.fromarray(pic).convert("CMYK").save(directory / "cmyk.jpg", "JPEG")
    sixteen = (pic[:, :, 0].astype(np.uint16) * 257).astype(np.uint16)
    Image.fromarray(sixteen).save(directory / "sixteen_bit.png")
    Image.fromarray(pic).convert("P").save(directory / "palette.gif")
    Image.fromarray(pic[:, :, :2].copy()[:, :, 0]).convert("LA").save(directory / "gray_alpha.png")
    return EXPECTED
