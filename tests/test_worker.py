"""The worker's failure handling: helpdesk outages retry for a day and trip the account's breaker
(jobs then wait without spending attempts); other errors die sooner. Injected clock, real SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from deskhand.errors import ProviderError
from deskhand.model import Event, EventKind
from deskhand.providers.client import ConnectionFailed
from deskhand.queue.breaker import THRESHOLD
from deskhand.queue.letters import list_jobs
from deskhand.queue.sql import BACKOFF_CAP_S
from deskhand.responder import worker as worker_module
from deskhand.responder.worker import UNEXPECTED_ATTEMPTS, Worker
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.sim.base import ManualClock
from deskhand.store import Store


@pytest.fixture
def rt(store: Store, settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime(store, settings)
    runtime.queue.clock = ManualClock()
    store.save_account("acme", "zendesk", {})
    yield runtime


def _event_job(rt: Runtime, n: int) -> None:
    ev = Event(provider="zendesk", account="acme", kind=EventKind.TICKET_CREATED, ticket_id=str(n), delivery_id=f"d{n}")
    with rt.store.transaction() as conn:
        event_id = rt.store.record_event(conn, "default", ev)
        rt.queue.enqueue(conn, "handle_event", {"event_id": event_id}, dedupe_key=f"event:{event_id}")


def _run(rt: Runtime, worker: Worker, rounds: int) -> None:
    for _ in range(rounds):
        while worker.run_once():
            pass
        rt.queue.clock.advance(BACKOFF_CAP_S + 1)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("error", "alive_after", "dead"), [
    (RuntimeError("a bug"), UNEXPECTED_ATTEMPTS, True),
    (ProviderError("GET /tickets/1.json -> HTTP 422", status=422), 1, True),
    (ProviderError("GET /tickets/1.json -> HTTP 503", status=503), UNEXPECTED_ATTEMPTS + 5, False),
], ids=["bug-dies-after-ten", "4xx-dies-at-once", "5xx-keeps-retrying"])
def test_only_helpdesk_outages_are_retried_for_a_day(rt: Runtime, monkeypatch: pytest.MonkeyPatch,
                                                     error: Exception, alive_after: int, dead: bool) -> None:
    def fail(_rt: Runtime, _job: object) -> None:
        raise error

    monkeypatch.setitem(worker_module.HANDLERS, "flaky", fail)
    rt.queue.enqueue(None, "flaky", {})
    _run(rt, Worker(rt, name="w"), alive_after)
    (job,) = list_jobs(rt.store.engine)
    assert (job["status"] == "dead") is dead, job


def test_an_unreachable_helpdesk_opens_the_breaker_and_its_jobs_wait_without_spending_attempts(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def unreachable(_rt: Runtime, job: object) -> None:
        calls.append(1)
        raise ConnectionFailed("GET http://127.0.0.1:9/api/v2/tickets/1.json: cannot connect", sent=False)

    monkeypatch.setitem(worker_module.HANDLERS, "handle_event", unreachable)
    for n in range(THRESHOLD + 3):
        _event_job(rt, n)
    worker = Worker(rt, name="w")
    while worker.run_once():
        pass
    assert len(calls) == THRESHOLD  # then the breaker opened: the other jobs were deferred, not run
    breaker = rt.breakers.get("acme")
    assert breaker is not None and breaker["state"] == "open"
    attempts = sorted(j["attempts"] for j in list_jobs(rt.store.engine))
    assert attempts == [0] * 3 + [1] * THRESHOLD

    monkeypatch.setitem(worker_module.HANDLERS, "handle_event", lambda _rt, _job: None)  # the helpdesk is back
    rt.queue.clock.advance(31)  # type: ignore[attr-defined]
    while worker.run_once():
        pass
    assert rt.breakers.get("acme")["state"] == "closed"  # type: ignore[index]
    assert rt.queue.counts() == {"done": THRESHOLD + 3}  # the probe closed it; the waiting jobs ran at once


def test_a_ticket_the_helpdesk_always_fails_does_not_keep_the_account_s_breaker_open(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deskhand.queue import PRIORITY_WRITE

    def apply(_rt: Runtime, job: object) -> None:  # the helpdesk answers 500 on this one ticket only
        raise ProviderError("PUT /tickets/13.json -> HTTP 500", status=500)

    handled: list[int] = []
    monkeypatch.setitem(worker_module.HANDLERS, "apply_decision", lambda _rt, job: None)
    monkeypatch.setitem(worker_module.HANDLERS, "handle_event", lambda _rt, job: handled.append(1))
    for n in range(THRESHOLD + 1):
        _event_job(rt, n)
    for _ in range(THRESHOLD):  # the breaker opens on THRESHOLD failures in a row
        rt.breakers.failure("acme", "HTTP 500")
    # a write job of the account, first in line at every probe (write-back runs before events)
    event_id = rt.store.list_events(limit=1)[0].id
    with rt.store.transaction() as conn:
        decision_id = rt.store.save_decision(conn, tenant_id="default", account="acme", event_id=event_id,
                                             ticket_id="13", decision=_human(), evidence={}, actions=[])
        rt.queue.enqueue(conn, "apply_decision", {"decision_id": decision_id}, priority=PRIORITY_WRITE)
    monkeypatch.setitem(worker_module.HANDLERS, "apply_decision", apply)
    worker = Worker(rt, name="w")
    for _ in range(300):  # a worker polling each second: the poisoned write probes first, the next
        rt.queue.clock.advance(1)  # type: ignore[attr-defined]  # probe is another job's, which succeeds
        while worker.run_once():
            pass
        if rt.breakers.get("acme")["state"] == "closed":  # type: ignore[index]
            break
    assert rt.breakers.get("acme")["state"] == "closed"  # type: ignore[index]
    assert len(handled) == THRESHOLD + 1  # every other job of the account ran


def _human() -> Any:
    from deskhand.model import Decision, Route

    return Decision(route=Route.HUMAN, triage=None, confidence=0.0)


def _wait_until(condition: Any, what: str, deadline_s: float = 30.0) -> None:
    import time

    end = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.005)


@pytest.mark.parametrize("beating", [True, False], ids=["heartbeat", "no-heartbeat"])
def test_a_job_longer_than_its_lease_keeps_it_while_it_works(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, beating: bool
) -> None:
    """A slow LLM call outlives the lease: the heartbeat renews it, so no other worker takes the job
    over (without the heartbeat, one does: the control case shows the test can fail)."""
    import threading

    started, go = threading.Event(), threading.Event()
    runs: list[int] = []

    def slow(_rt: Runtime, job: Any) -> None:
        runs.append(job.id)
        started.set()
        assert go.wait(60)

    monkeypatch.setitem(worker_module.HANDLERS, "handle_event", slow)
    _event_job(rt, 1)
    first = Worker(rt, name="first", lease_s=60, heartbeat_s=0.01 if beating else 3600)
    thread = threading.Thread(target=first.run_once)
    thread.start()
    try:
        assert started.wait(30)
        taken = None
        for _ in range(3):  # three leases' worth of time pass while the job works
            rt.queue.clock.advance(50)  # type: ignore[attr-defined]
            if beating:
                seen = first.renewals
                _wait_until(lambda seen=seen: first.renewals >= seen + 2, "a renewal after the clock moved")
            taken = taken or rt.queue.claim("second", lease_s=60)
        if beating:
            assert taken is None and first.renewals >= 6
        else:
            assert taken is not None and taken.id == runs[0]
    finally:
        go.set()
        thread.join(30)
    assert runs == [runs[0]]
    assert rt.queue.counts() == ({"done": 1} if beating else {"running": 1})  # the late finisher's ack is refused
