"""Images by URL, fetched on the executors from a real HTTP server on 127.0.0.1: a slow URL
times out, a 404 is an HTTP error, a flaky 503 is retried, non-http(s) URLs are refused; every
URL keeps its row."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sparktf.imaging import ImageSpec, RowError, decode_image, to_batch
from sparktf.inference import predict
from sparktf.inference.urls import FetchConfig, fetch, fetch_all
from tests.inference.conftest import encode, photo

IMAGES = {f"/img/{i}.png": encode(photo(28, 28, seed=i)[:, :, 0], "PNG") for i in range(5)}


class _Handler(BaseHTTPRequestHandler):
    # Each server has a subclass of its own (the module's tests may set the server up more
    # than once in a process): its slow URL answers only once that server is shut down (or
    # after a minute), so a client that gave up on it did so without its answer, whatever the
    # machine's load.
    release_slow: threading.Event  # (set by the server fixture's subclass)
    flaky_hits = 0
    slow_answers = 0

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _send(self, code: int, body: bytes, ctype: str = "image/png") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path
        if path in IMAGES:
            self._send(200, IMAGES[path])
        elif path == "/slow":
            type(self).release_slow.wait(60)
            type(self).slow_answers += 1
            self._send(200, IMAGES["/img/0.png"])
        elif path == "/flaky":
            type(self).flaky_hits += 1
            if type(self).flaky_hits % 2 == 1:
                self._send(503, b"busy", "text/plain")
            else:
                self._send(200, IMAGES["/img/1.png"])
        elif path == "/big":
            self._send(200, b"\x89PNG" + b"\x00" * 5000)
        elif path == "/text":
            self._send(200, b"<html>not an image</html>", "text/html")
        elif path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/img/2.png")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(404, b"no such image", "text/plain")


HANDLERS: dict[str, type[_Handler]] = {}  # each server's handler, by its URL


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    handler = type("Handler", (_Handler,), {"release_slow": threading.Event()})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    HANDLERS[url] = handler
    yield url
    handler.release_slow.set()
    httpd.shutdown()
    httpd.server_close()


FAST = FetchConfig(timeout=0.5, retries=1, max_bytes=4096, threads=4, backoff=0.05)


def test_fetch_gets_bytes_and_follows_redirects(server: str) -> None:
    assert fetch(f"{server}/img/3.png", FAST) == IMAGES["/img/3.png"]
    assert fetch(f"{server}/redirect", FAST) == IMAGES["/img/2.png"]


@pytest.mark.parametrize(
    ("url", "reason", "words"),
    [
        ("/missing.png", "http_error", "HTTP 404"),
        ("/big", "too_many_bytes", "over the limit of 4096 bytes"),
        ("ftp://127.0.0.1/x.png", "bad_url", "only http:// and https://"),
        ("file:///etc/hostname", "bad_url", "only http:// and https://"),
        ("images/cat.png", "bad_url", "without a scheme"),
        ("http://127.0.0.1:1/x.png", "unreachable", "127.0.0.1:1"),
    ],
)
def test_fetch_failures_have_readable_reasons(
    server: str, url: str, reason: str, words: str
) -> None:
    full = server + url if url.startswith("/") else url
    with pytest.raises(RowError) as info:
        fetch(full, FAST)
    assert info.value.reason.value == reason and words in info.value.text


def test_slow_url_times_out_after_retries_without_waiting_for_it(server: str) -> None:
    with pytest.raises(RowError) as info:
        fetch(f"{server}/slow", FAST)
    assert info.value.reason.value == "timeout" and "after 2 attempts" in info.value.text
    assert HANDLERS[server].slow_answers == 0  # it gave up (twice) before the server answered


def test_server_errors_are_retried(server: str) -> None:
    assert fetch(f"{server}/flaky", FAST) == IMAGES["/img/1.png"]


def test_fetch_all_keeps_order_and_turns_every_failure_into_its_row(server: str) -> None:
    urls = [f"{server}/img/0.png", None, f"{server}/nope", f"{server}/img/4.png"]
    out = fetch_all(urls, FAST)
    assert out[0] == IMAGES["/img/0.png"] and out[3] == IMAGES["/img/4.png"]
    assert isinstance(out[1], RowError) and out[1].reason.value == "missing_input"
    assert isinstance(out[2], RowError) and out[2].reason.value == "http_error"


@pytest.mark.slow
def test_predict_over_a_url_list_on_spark(
    spark: Any, server: str, tmp_path: Path, gray_model_path: Path, keras_gray: Any
) -> None:
    good = [f"{server}/img/{i}.png" for i in range(5)]
    bad = {
        f"{server}/slow": "timeout",
        f"{server}/missing.png": "http_error",
        f"{server}/text": "not_an_image",
        "ftp://127.0.0.1/a.png": "bad_url",
        "file:///etc/passwd": "bad_url",
    }
    listing = tmp_path / "urls.txt"
    listing.write_text("# images\n" + "\n".join(good + list(bad)) + "\n\n")
    rows = predict(
        str(listing),
        gray_model_path,
        spark=spark,
        input_format="urls",
        timeout=0.5,
        retries=0,
        probabilities=True,
    ).collect()
    assert len(rows) == len(good) + len(bad)  # rows in = rows out
    by_url = {r.id: r for r in rows}
    for url, reason in bad.items():
        assert by_url[url].error.startswith(reason + ": "), by_url[url].error
        assert by_url[url].top_k is None
    spec = ImageSpec(28, 28, 1)
    expected = keras_gray.predict(
        to_batch([decode_image(IMAGES[u.removeprefix(server)], spec) for u in good], spec),
        verbose=0,
    )
    for url, exp in zip(good, expected, strict=True):
        assert by_url[url].error is None
        np.testing.assert_allclose(by_url[url].probabilities, exp, rtol=1e-5, atol=1e-6)


def test_predict_over_a_dataframe_url_column(
    spark: Any, server: str, gray_model_path: Path
) -> None:
    df = spark.createDataFrame(
        [(f"{server}/img/{i}.png", i) for i in range(3)] + [(f"{server}/gone", 9)],
        "link string, n int",
    )
    rows = predict(df, gray_model_path, spark=spark, url_column="link", id_column="n").collect()
    assert sorted(r.id for r in rows) == ["0", "1", "2", "9"]
    assert [r.error.split(":")[0] for r in rows if r.id == "9"] == ["http_error"]
