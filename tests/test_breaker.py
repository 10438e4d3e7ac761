"""The per-account circuit breaker in the store (deskhand.queue.breaker) and what /healthz makes of
it: run on SQLite and PostgreSQL, times on an injected clock."""

from __future__ import annotations

import pytest

from deskhand.errors import ProviderError, RateLimited
from deskhand.providers.client import ConnectionFailed
from deskhand.queue import SqlQueue
from deskhand.queue.breaker import Breakers, defer_marker, helpdesk_answered, helpdesk_down
from deskhand.queue.health import report
from deskhand.sim.base import ManualClock
from deskhand.store import Store

pytestmark = pytest.mark.every_backend


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def breakers(store: Store, clock: ManualClock) -> Breakers:
    return Breakers(store.engine, clock=clock, threshold=3, cooldowns=(30.0, 60.0, 120.0), probe_lease_s=100.0)


@pytest.mark.parametrize(("exc", "down", "answered"), [
    (ConnectionFailed("refused", sent=False), True, False),
    (ConnectionFailed("read timeout", sent=True), True, False),
    (ProviderError("503", status=503), True, False),
    (ProviderError("500", status=500), True, False),
    (ProviderError("404", status=404), False, True),
    (RateLimited("429", status=429, retry_after=5), False, True),
    (ProviderError("action started 3 s ago"), False, False),
], ids=["refused", "timeout", "503", "500", "404", "429", "no-status"])
def test_which_errors_say_the_helpdesk_is_down(exc: Exception, down: bool, answered: bool) -> None:
    assert (helpdesk_down(exc), helpdesk_answered(exc)) == (down, answered)


def test_consecutive_failures_open_the_breaker_and_jobs_wait_for_the_probe(breakers: Breakers,
                                                                           clock: ManualClock) -> None:
    assert breakers.admit("acme").run
    assert [breakers.failure("acme", "503") for _ in range(3)] == ["closed", "closed", "open"]
    wait = breakers.admit("acme")
    assert not wait.run and wait.wait_until == clock() + 30 and wait.reason.startswith(defer_marker("acme"))
    assert breakers.admit("other").run  # one account's outage is its own


def test_only_one_of_two_workers_becomes_the_probe(breakers: Breakers, clock: ManualClock) -> None:
    for _ in range(3):
        breakers.failure("acme", "503")
    clock.advance(31)
    row = breakers.get("acme")
    first, second = breakers.admit("acme", row), breakers.admit("acme", row)  # both read "open, due"
    assert (first.run, first.probe) == (True, True)
    assert not second.run and second.wait_until == clock() + 100


def test_a_failed_probe_reopens_with_a_longer_cooldown_and_a_lapsed_probe_is_taken_over(
    breakers: Breakers, clock: ManualClock
) -> None:
    for _ in range(3):
        breakers.failure("acme", "503")
    clock.advance(31)
    assert breakers.admit("acme").probe
    assert breakers.failure("acme", "still 503") == "open"
    assert breakers.admit("acme").wait_until == clock() + 60
    clock.advance(61)
    assert breakers.admit("acme").probe  # the prober crashes: no answer either way
    clock.advance(50)
    assert not breakers.admit("acme").run
    clock.advance(51)
    assert breakers.admit("acme").probe


def test_a_success_closes_the_breaker_and_makes_the_waiting_jobs_due(store: Store, breakers: Breakers,
                                                                      clock: ManualClock) -> None:
    queue = SqlQueue(store.engine, clock=clock)
    for _ in range(3):
        breakers.failure("acme", "503")
    queue.enqueue(None, "handle_event", {"event_id": 1})
    queue.enqueue(None, "handle_event", {"event_id": 2})
    for _ in range(2):
        job = queue.claim("w")
        assert job is not None
        gate = breakers.admit("acme")
        queue.defer(job, "w", gate.wait_until or 0, gate.reason)
    assert queue.claim("w") is None
    assert breakers.success("acme") is True
    assert breakers.get("acme")["state"] == "closed"  # type: ignore[index]
    assert queue.claim("w") is not None and queue.claim("w") is not None  # due now, not at the probe time
    assert breakers.success("acme") is False  # nothing left to close: no write


def test_health_is_degraded_with_reasons_while_a_breaker_is_open_or_jobs_are_dead(
    store: Store, breakers: Breakers, clock: ManualClock
) -> None:
    queue = SqlQueue(store.engine, clock=clock)
    assert report(queue, breakers)["status"] == "ok"
    for _ in range(3):
        breakers.failure("acme", "503")
    clock.advance(12)
    queue.enqueue(None, "k", {}, max_attempts=1)
    job = queue.claim("w")
    assert job is not None
    queue.retry(job, "w", "bug")
    queue.enqueue(None, "k", {})
    clock.advance(200)
    got = report(queue, breakers)
    assert got["status"] == "degraded" and got["open_breakers"] == 1 and got["queue_lag_s"] == 200
    assert [r.split(":")[0] for r in got["reasons"]] == [
        "helpdesk unreachable for 1 account(s)", "1 dead job(s)",
        "queue lag 200 s (oldest due job waiting; more than 120 s)",
    ]
    assert "acme" not in " ".join(got["reasons"])  # /healthz needs no credentials: no account names
