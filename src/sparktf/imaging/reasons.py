"""Why one input row failed: a fixed set of reason codes, and the exception that carries one.

A row's ``error`` column reads ``"<code>: <readable detail>"``; summaries count rows by code.
"""

from __future__ import annotations

from enum import Enum


class Reason(str, Enum):
    """The reason code of a failed row (the part of ``error`` before the first colon)."""

    EMPTY_FILE = "empty_file"
    NOT_AN_IMAGE = "not_an_image"
    CORRUPT_IMAGE = "corrupt_image"
    IMAGE_TOO_LARGE = "image_too_large"
    DECODE_ERROR = "decode_error"
    MISSING_INPUT = "missing_input"
    BAD_URL = "bad_url"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    HTTP_ERROR = "http_error"
    TOO_MANY_BYTES = "too_many_bytes"
    MODEL_ERROR = "model_error"
    MISSING_VALUE = "missing_value"  # a table model's row with an empty feature


class RowError(Exception):
    """One input cannot be predicted; the row gets ``error = "<reason>: <detail>"``.

    Attributes:
        reason: the reason code.
        detail: a one-line, readable explanation.
    """

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail

    @property
    def text(self) -> str:
        """The ``error`` column's text: code, colon, detail, on one line."""
        return f"{self.reason.value}: {' '.join(self.detail.split())}"
