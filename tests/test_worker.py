"""The worker's failure handling: helpdesk outages retry for a day and trip the account's breaker
(jobs then wait without spending attempts); other errors die sooner. Injected clock, real SQLite."""

from __future__ import annotations

from collections.abc import Iterator

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
