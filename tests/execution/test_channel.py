"""The report channel: authenticated, bounded, JSON only; unreachable means no pruning."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request

import pytest

from sparktf.execution.channel import (
    MAX_BODY,
    TOKEN_HEADER,
    ChannelAddress,
    ChannelClient,
    ChannelServer,
)


def _post(url: str, body: bytes, token: str | None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers[TOKEN_HEADER] = token
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def test_reports_reach_the_handler_and_stop_comes_back() -> None:
    seen: list[tuple[int, int, float]] = []

    def handler(trial: int, step: int, value: float) -> bool:
        seen.append((trial, step, value))
        return value < 0.5

    with ChannelServer(handler) as server:
        client = ChannelClient(server.address, trial=7)
        assert client.report(1, 0.9) is False
        assert client.report(2, 0.1) is True
    assert seen == [(7, 1, 0.9), (7, 2, 0.1)]
    assert client.warning is None


def test_wrong_or_missing_secret_is_refused_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []
    with ChannelServer(lambda t, s, v: calls.append(t) or False) as server:
        body = json.dumps({"trial": 1, "step": 1, "value": 0.5}).encode()
        with caplog.at_level(logging.WARNING, logger="sparktf.channel"):
            assert _post(server.address.url, body, "not-the-secret")[0] == 403
            assert _post(server.address.url, body, None)[0] == 403
        assert server.refused == 2
        assert _post(server.address.url, body, server.address.token) == (
            200,
            {"action": "continue"},
        )
    assert calls == [1]
    assert "refused a report" in caplog.text


def test_oversized_and_malformed_bodies_are_rejected() -> None:
    with ChannelServer(lambda t, s, v: False) as server:
        token = server.address.token
        assert _post(server.address.url, b"x" * (MAX_BODY + 1), token)[0] == 413
        assert _post(server.address.url, b"\x80\x04pickle", token)[0] == 400
        assert _post(server.address.url, b'{"trial": "a"}', token)[0] == 400


def test_unreachable_channel_turns_pruning_off_with_a_warning() -> None:
    client = ChannelClient(ChannelAddress("http://127.0.0.1:9/report", "s"), trial=3, timeout=2)
    assert client.report(1, 0.5) is False
    assert client.warning is not None and "pruning is off for this trial" in client.warning
    assert client.report(2, 0.4) is False  # does not try again


def test_start_reports_reach_their_handler_without_making_the_trial_wait() -> None:
    started = threading.Event()
    seen: list[tuple[int, int]] = []

    def on_start(trial: int, attempt: int) -> None:
        seen.append((trial, attempt))
        started.set()

    with ChannelServer(lambda t, s, v: False, on_start=on_start) as server:
        ChannelClient(server.address, trial=5).announce_start(2)  # returns at once
        assert started.wait(5)
        token = server.address.token
        bad = json.dumps({"trial": 5, "event": "start"}).encode()  # no attempt
        assert _post(server.address.url, bad, token)[0] == 400
    assert seen == [(5, 2)]


def test_unreachable_channel_start_report_only_sets_the_warning() -> None:
    client = ChannelClient(ChannelAddress("http://127.0.0.1:9/report", "s"), trial=4, timeout=2)
    client.announce_start(1)
    deadline = time.monotonic() + 5
    while client.warning is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert client.warning is not None and "cannot reach" in client.warning
