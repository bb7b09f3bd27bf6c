"""The background log: jobs in order, retried, dropped when refused, reported when the
server stays down, and never holding the caller up."""

from __future__ import annotations

import threading

from sparktf.tracking import BackgroundLog
from tests.clusterutil import wait_for


def test_jobs_run_in_order_and_a_transient_failure_is_retried() -> None:
    done: list[str] = []
    failures = iter([OSError("connection refused")])

    def flaky() -> None:
        err = next(failures, None)
        if err is not None:
            raise err
        done.append("flaky")

    log = BackgroundLog("t", attempts=3, backoff_s=0.01)
    log.post("a", lambda: done.append("a"))
    log.post("flaky", flaky)
    log.post("b", lambda: done.append("b"))
    assert log.close(5) is None
    assert done == ["a", "flaky", "b"]


def test_a_refused_job_is_dropped_and_reported_and_the_rest_still_run() -> None:
    done: list[str] = []

    def refused() -> None:
        raise ValueError("invalid parameter value")

    log = BackgroundLog("t", attempts=3, backoff_s=0.01)
    log.post("trial 1", refused)
    log.post("trial 2", lambda: done.append("trial 2"))
    gap = log.close(5)
    assert done == ["trial 2"]
    assert gap is not None and gap.items == ("trial 1",) and "invalid parameter" in gap.error


def test_a_server_that_stays_down_costs_the_caller_nothing_and_is_reported_once() -> None:
    calls: list[str] = []
    threads: set[str] = set()

    def down(what: str) -> None:
        calls.append(what)
        threads.add(threading.current_thread().name)
        raise ConnectionRefusedError("server down")

    log = BackgroundLog("t", attempts=2, backoff_s=0.01, probe_s=60)
    for i in range(50):
        log.post(f"trial {i}", lambda i=i: down(f"trial {i}"))
    wait_for("the first job's two tries", lambda: len(calls) >= 2, every=0.01)  # server down
    gap = log.close(5)
    assert threading.current_thread().name not in threads  # the caller never waited on one
    assert gap is not None and len(gap.items) == 50 and "server down" in gap.error
    # two tries, then (down) no more than the one last probe at close
    assert calls == ["trial 0", "trial 0", "trial 0"]


def test_the_server_coming_back_lets_the_waiting_jobs_through_in_order() -> None:
    up = {"now": False}
    done: list[str] = []

    def job(what: str) -> None:
        if not up["now"]:
            raise ConnectionRefusedError("server down")
        done.append(what)

    log = BackgroundLog("t", attempts=1, probe_s=0.05)
    tried: list[str] = []

    def job_tried(what: str) -> None:
        tried.append(what)
        job(what)

    for what in ("a", "b", "c"):
        log.post(what, lambda w=what: job_tried(w))
    wait_for('"a" refused, then tried by a probe', lambda: len(tried) >= 2, every=0.01)
    up["now"] = True
    assert log.close(5) is None
    assert done == ["a", "b", "c"]
