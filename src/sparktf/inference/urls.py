"""Fetch images by URL on the executors: http(s) only, with a timeout, retries and a size cap.

Every failure becomes a :class:`~sparktf.imaging.RowError` with a readable reason, so
that one unreachable host or a 404 costs one row, never the job.
"""

from __future__ import annotations

import http.client
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from sparktf.errors import ConfigError
from sparktf.imaging import Reason, RowError

ALLOWED_SCHEMES = ("http", "https")
_CHUNK = 1 << 16


@dataclass(frozen=True)
class FetchConfig:
    """How URLs are fetched.

    Attributes:
        timeout: seconds one attempt may take, from connecting to the last byte.
        retries: further attempts after a timeout, a connection error, HTTP 429 or 5xx
            (4xx other than 429 is not retried).
        max_bytes: larger responses are refused.
        threads: concurrent downloads per Spark task.
        backoff: seconds before the first retry; doubled for each further one.
    """

    timeout: float = 10.0
    retries: int = 2
    max_bytes: int = 50 * 1024 * 1024
    threads: int = 8
    backoff: float = 0.25

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ConfigError(f"--timeout must be positive seconds, got {self.timeout}")
        if self.retries < 0:
            raise ConfigError(f"--retries must be 0 or more, got {self.retries}")
        if self.max_bytes <= 0:
            raise ConfigError(f"--max-bytes must be positive, got {self.max_bytes}")
        if self.threads <= 0:
            raise ConfigError(f"--fetch-threads must be positive, got {self.threads}")


def _opener() -> urllib.request.OpenerDirector:
    """An opener that speaks only HTTP(S) (no file:, ftp:, data:), redirects included."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.UnknownHandler(),
    ):
        opener.add_handler(handler)
    return opener


def check_url(url: str) -> None:
    """Raise :class:`RowError` (``bad_url``) unless ``url`` is an absolute http(s) URL."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise RowError(Reason.BAD_URL, f"{url!r} is not a valid URL: {exc}") from exc
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise RowError(
            Reason.BAD_URL,
            f"{url!r}: only http:// and https:// URLs are fetched, not "
            f"{(parts.scheme + ':') if parts.scheme else 'a URL without a scheme'}",
        )
    if not parts.hostname:
        raise RowError(Reason.BAD_URL, f"{url!r} has no host name")


def _attempt(opener: urllib.request.OpenerDirector, url: str, cfg: FetchConfig) -> bytes:
    deadline = time.monotonic() + cfg.timeout
    req = urllib.request.Request(url, headers={"User-Agent": "sparktf-predict"})
    with opener.open(req, timeout=cfg.timeout) as resp:
        length = resp.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > cfg.max_bytes:
            raise RowError(
                Reason.TOO_MANY_BYTES,
                f"{url}: Content-Length {length} is over the limit of {cfg.max_bytes} bytes "
                "(--max-bytes)",
            )
        chunks: list[bytes] = []
        size = 0
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"download not finished within {cfg.timeout:g}s")
            chunk = resp.read(_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > cfg.max_bytes:
                raise RowError(
                    Reason.TOO_MANY_BYTES,
                    f"{url}: more than {cfg.max_bytes} bytes (--max-bytes)",
                )
            chunks.append(chunk)
    return b"".join(chunks)


def fetch(url: str, cfg: FetchConfig) -> bytes:
    """Download one URL.

    Args:
        url: an http:// or https:// URL.
        cfg: timeout, retries, size cap.

    Returns:
        The response body.

    Raises:
        RowError: ``bad_url``, ``timeout``, ``unreachable``, ``http_error`` or
            ``too_many_bytes``, after the allowed retries.
    """
    url = url.strip()
    check_url(url)
    opener = _opener()
    last: RowError | None = None
    for attempt in range(cfg.retries + 1):
        if attempt:
            time.sleep(cfg.backoff * 2 ** (attempt - 1))
        tries = f" (after {attempt + 1} attempts)" if attempt else ""
        try:
            return _attempt(opener, url, cfg)
        except urllib.error.HTTPError as exc:
            last = RowError(Reason.HTTP_ERROR, f"{url}: HTTP {exc.code} {exc.reason}{tries}")
            if exc.code != 429 and exc.code < 500:
                break
        except RowError:
            raise
        except TimeoutError as exc:
            last = RowError(Reason.TIMEOUT, f"{url}: no answer within {cfg.timeout:g}s{tries}")
            del exc
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (TimeoutError, socket.timeout)):
                last = RowError(Reason.TIMEOUT, f"{url}: no answer within {cfg.timeout:g}s{tries}")
            elif "unknown url type" in str(reason):
                raise RowError(Reason.BAD_URL, f"{url}: redirected to a non-http(s) URL") from exc
            else:
                last = RowError(Reason.UNREACHABLE, f"{url}: {reason}{tries}")
        except (http.client.HTTPException, OSError, ValueError) as exc:
            last = RowError(Reason.UNREACHABLE, f"{url}: {type(exc).__name__}: {exc}{tries}")
    assert last is not None
    raise last


def fetch_all(urls: Sequence[str | None], cfg: FetchConfig) -> list[bytes | RowError]:
    """Download many URLs concurrently (``cfg.threads`` at a time), keeping their order.

    Returns:
        For each URL its bytes, or the :class:`RowError` saying why not.
    """

    def one(url: str | None) -> bytes | RowError:
        if url is None or not url.strip():
            return RowError(Reason.MISSING_INPUT, "the URL is empty or null")
        try:
            return fetch(url, cfg)
        except RowError as exc:
            return exc
        except Exception as exc:  # never lose a row to an unexpected client error
            return RowError(Reason.UNREACHABLE, f"{url}: {type(exc).__name__}: {exc}")

    if len(urls) <= 1 or cfg.threads == 1:
        return [one(u) for u in urls]
    with ThreadPoolExecutor(max_workers=min(cfg.threads, len(urls))) as pool:
        return list(pool.map(one, urls))
