"""The executor → driver report channel: intermediate metrics in, "continue"/"stop" out; and
each trial's "I have started" (the only sure sign of when a trial got its slot on Spark Connect,
whose server may start queued requests in another order than they were sent).

A small HTTP server on the driver, bound to the driver's address (reachable from executors on a
real cluster, not only loopback). Each request carries the study's secret in a header; JSON
only (network input is never unpickled); bodies are bounded. If the client cannot reach the
server, the trial keeps training without pruning, and the warning travels back with the
trial's outcome (shown by the driver when the trial ends). Nothing is printed on the
executor: a trial that the driver cancelled (``--timeout``, Ctrl-C) loses the channel as it
stops, and no warning must claim otherwise.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("sparktf.channel")

MAX_BODY = 16 * 1024
# an event of a backend may carry a trial's outcome, its model included (authenticated first)
MAX_EVENT_BODY = 1 << 31
TOKEN_HEADER = "X-SparkTF-Token"
EVENT_HEADER = "X-SparkTF-Event"

# handler(trial_number, step, value) -> True to stop the trial
ReportHandler = Callable[[int, int, float], bool]
# handler(trial_number, attempt): that attempt has started on its executor
StartHandler = Callable[[int, int], None]
# handler(trial_number, measures): what the trial knows before training (params, model_bytes)
MeasuresHandler = Callable[[int, dict[str, float]], None]
# handler(message) -> answer: an event of a backend's own (slot mode: "next", "outcome", ...);
# it may block for a while (long polling), the request has a thread of its own
EventHandler = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class ChannelAddress:
    """What an executor needs to reach the channel: URL and secret."""

    url: str
    token: str


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("channel: " + format, *args)

    def _answer(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        token = self.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(token.encode(), self.server.token.encode()):
            self.server.refused += 1
            log.warning(
                "channel: refused a report from %s without the study's secret",
                self.client_address[0],
            )
            self._answer(403, {"error": "forbidden"})
            return
        try:
            length = int(self.headers.get("Content-Length", "-1"))
        except ValueError:
            length = -1
        event = self.headers.get(EVENT_HEADER, "")
        limit = MAX_EVENT_BODY if event in self.server.events else MAX_BODY
        if length < 0 or length > limit:
            self._answer(413, {"error": f"body must be 0..{limit} bytes"})
            return
        try:
            msg = json.loads(self.rfile.read(length))
            if event in self.server.events and isinstance(msg, dict):
                self._event(event, msg)
                return
            if isinstance(msg, dict) and msg.get("event") == "start":
                self._started(int(msg["trial"]), int(msg["attempt"]))
                return
            if isinstance(msg, dict) and msg.get("event") == "measures":
                known = {str(k): float(v) for k, v in dict(msg["measures"]).items()}
                self._measured(int(msg["trial"]), known)
                return
            trial = int(msg["trial"])
            step = int(msg["step"])
            value = float(msg["value"])
        except (ValueError, KeyError, TypeError):
            self._answer(
                400,
                {
                    "error": "expected JSON {trial: int, step: int, value: float} or "
                    '{trial: int, attempt: int, event: "start"}'
                },
            )
            return
        try:
            stop = self.server.on_report(trial, step, value)
        except Exception as exc:  # never let one bad report kill the server
            log.warning("channel: report of trial %s failed: %s", trial, exc)
            stop = False
        self._answer(200, {"action": "stop" if stop else "continue"})

    def _event(self, event: str, msg: dict[str, Any]) -> None:
        try:
            answer = self.server.events[event](msg)
        except Exception as exc:  # as for reports
            log.warning("channel: event %s failed: %s", event, exc)
            self._answer(400, {"error": f"{type(exc).__name__}: {exc}"})
            return
        self._answer(200, answer)

    def _started(self, trial: int, attempt: int) -> None:
        try:
            self.server.on_start(trial, attempt)
        except Exception as exc:  # as for reports
            log.warning("channel: start of trial %s failed: %s", trial, exc)
        self._answer(200, {"action": "continue"})

    def _measured(self, trial: int, measures: dict[str, float]) -> None:
        try:
            self.server.on_measures(trial, measures)
        except Exception as exc:  # as for reports
            log.warning("channel: measures of trial %s failed: %s", trial, exc)
        self._answer(200, {"action": "continue"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client gone mid-answer (its executor lost, its task interrupted): no traceback."""
        log.debug("channel: request from %s failed", client_address, exc_info=True)

    token: str
    on_report: ReportHandler
    on_start: StartHandler
    on_measures: MeasuresHandler
    events: Mapping[str, EventHandler]
    refused: int = 0


def _ignore_start(trial: int, attempt: int) -> None:
    """The default start handler."""


def _ignore_measures(trial: int, measures: dict[str, float]) -> None:
    """The default measures handler."""


class ChannelServer:
    """The driver's side. Use as a context manager.

    Args:
        on_report: called for every authenticated report; returns True to stop the trial.
        on_start: called when a trial's attempt says it has started.
        on_measures: called with what a trial knows before training (params, model_bytes).
        host: the address to bind (the driver's address).
        advertise: ``HOST:PORT`` executors use instead (a NAT or proxy in between).
        events: a backend's own events (the request's ``X-SparkTF-Event`` header names one):
            JSON in, JSON out.
    """

    def __init__(
        self,
        on_report: ReportHandler,
        host: str = "127.0.0.1",
        advertise: str | None = None,
        on_start: StartHandler = _ignore_start,
        on_measures: MeasuresHandler = _ignore_measures,
        events: Mapping[str, EventHandler] | None = None,
    ) -> None:
        self._server = _Server((host, 0), _Handler)
        self._server.token = secrets.token_urlsafe(32)
        self._server.on_report = on_report
        self._server.on_start = on_start
        self._server.on_measures = on_measures
        self._server.events = dict(events or {})
        # serve_forever checks for shutdown every poll_interval: the default 0.5 s would add
        # up to half a second to the end of every study
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            daemon=True,
            name="sparktf-channel",
        )
        port = self._server.server_address[1]
        advertised = advertise or (
            f"{host if host not in ('0.0.0.0', '') else socket.gethostname()}:{port}"
        )
        self.address = ChannelAddress(f"http://{advertised}/report", self._server.token)

    @property
    def refused(self) -> int:
        """Requests refused for a wrong or missing secret."""
        return self._server.refused

    def __enter__(self) -> ChannelServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class ChannelClient:
    """The executor's side: ``report(step, value)`` → True when the driver says stop.

    On the first failure to reach the driver, pruning is switched off for this trial and
    ``warning`` says why; training goes on.
    """

    def __init__(self, address: ChannelAddress | None, trial: int, timeout: float = 10.0) -> None:
        self._address = address
        self._trial = trial
        self._timeout = timeout
        self.warning: str | None = None if address else "no report channel: pruning is off"

    def announce_start(self, attempt: int) -> None:
        """Tell the driver, from a background thread (the trial does not wait), that this
        attempt has started."""
        body = {"trial": self._trial, "attempt": int(attempt), "event": "start"}
        threading.Thread(target=self._post, args=(body,), daemon=True).start()

    def announce_measures(self, measures: dict[str, float]) -> None:
        """Tell the driver what the trial knows before training (before its first report)."""
        body = {"trial": self._trial, "event": "measures", "measures": dict(measures)}
        self._post(body)

    def report(self, step: int, value: float) -> bool:
        """Send one intermediate value; return True when the trial should stop."""
        answer = self._post({"trial": self._trial, "step": int(step), "value": float(value)})
        return bool(answer.get("action") == "stop")

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send one message; the driver's answer (empty when the channel is off or failed)."""
        if self._address is None or self.warning is not None:
            return {}
        req = urllib.request.Request(
            self._address.url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", TOKEN_HEADER: self._address.token},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as resp:
                answer = json.loads(resp.read(MAX_BODY))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            self.warning = (
                f"trial {self._trial}: cannot reach the driver's report channel at "
                f"{self._address.url} ({reason}); pruning is off for this trial, it trains to "
                "the end"
            )
            log.debug(self.warning)  # travels in the outcome; see the module's docstring
            return {}
        return answer if isinstance(answer, dict) else {}


def post_event(
    address: ChannelAddress, event: str, body: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """Send a backend's ``event`` to the driver and return its answer.

    Raises:
        OSError: the driver cannot be reached or refused the event (``urllib.error.URLError``
            is one).
        ValueError: the answer is not a JSON object.
    """
    req = urllib.request.Request(
        address.url,
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            TOKEN_HEADER: address.token,
            EVENT_HEADER: event,
        },
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        answer = json.loads(resp.read(1 << 24))
    if not isinstance(answer, dict):
        raise ValueError(f"the driver answered {event!r} with {type(answer).__name__}")
    return answer
