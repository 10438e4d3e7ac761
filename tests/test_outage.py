"""Outages lose nothing (issue 15, finding 2): the Zendesk simulator's API is down for ten minutes
of the queue's (injected) clock during a burst of tickets; every ticket is answered exactly once
after it returns, no job dies, the circuit breaker keeps jobs from spending their attempts, and
/healthz says degraded (with why) while it lasts."""

from __future__ import annotations

import time

import httpx

from deskhand.responder.worker import Worker
from deskhand.settings import Settings
from deskhand.sim.base import ManualClock
from deskhand.store import Store
from deskhand.testing.loop import Loop, sim_loop

QUESTIONS = [
    ("How do I reset my password?", "I forgot my password and cannot sign in. How do I reset it?"),
    ("How do I export my data?", "How can I export all my projects and tasks to CSV?"),
    ("Invite teammates", "How do I invite a teammate to my workspace?"),
    ("Where are my invoices?", "Where can I download my invoices?"),
]


def _run_due(worker: Worker) -> int:
    ran = 0
    while worker.run_once():
        ran += 1
        assert ran < 500, "the worker never runs out of due jobs"
    return ran


def _public_replies(loop: Loop, tid: str) -> int:
    """Our public comments on the ticket, read from the simulator's state (its API may be down)."""
    state = loop.sim.state
    me = state.user_by_email("deskhand@acme.test")
    return len([c for c in state.list_comments(int(tid)) if c["author_id"] == me["id"] and c["public"]])


def test_a_ten_minute_outage_during_a_burst_answers_every_ticket_exactly_once_after_it(
    store: Store, settings: Settings
) -> None:
    clock = ManualClock(1_900_000_000.0)
    with sim_loop("zendesk", store, settings, mode="auto") as loop:
        rt = loop.rt
        rt.queue.clock = clock
        rt.sleep = clock.advance  # the provider client's own short retries pass on the same clock
        worker = Worker(rt, name="w1", lease_s=3600)
        # the burst: two tickets before the outage, one of them decided (its reply not yet written) …
        early = [loop.create(*q) for q in QUESTIONS[:2]]
        assert worker.run_once()  # handle_event of the first: decided, its apply_decision queued
        assert [d["route"] for d in loop.decisions(early[0])] == ["auto_reply"] and not loop.decisions(early[1])
        assert not any(_public_replies(loop, t) for t in early)
        loop.faults.down(503)
        # … and six that arrive by mail while the API is down
        during = [loop.create_inbound(*QUESTIONS[i % len(QUESTIONS)]) for i in range(6)]
        tickets = early + during
        start = clock()
        while clock() - start < 600:
            _run_due(worker)
            clock.advance(20)
        health = httpx.get(f"{loop.gateway_url}/healthz").json()
        breaker = rt.breakers.get("acme")
        assert breaker is not None and breaker["state"] in ("open", "half_open")
        assert health["status"] == "degraded" and health["open_breakers"] == 1
        assert any("helpdesk unreachable" in r for r in health["reasons"])
        assert not any(_public_replies(loop, t) for t in tickets)
        from deskhand.queue.letters import list_jobs

        jobs = list_jobs(rt.store.engine, limit=1000)
        attempts = {j["id"]: j["attempts"] for j in jobs}
        # the breaker deferred the jobs instead of spending their attempts: after the first few
        # failures only its probes (one job at a time, 30 s, 1, 2, 4 … min apart) cost attempts
        assert sum(attempts.values()) <= 16 and max(attempts.values()) <= 8, attempts
        assert all(j["status"] == "queued" for j in jobs if j["status"] != "done"), jobs
        assert loop.faults.refused < 60  # probes, not a retry storm
        loop.faults.up()
        back = clock()
        while any(_public_replies(loop, t) == 0 for t in tickets):
            assert clock() - back < 3600, "not answered within an hour of the helpdesk's return"
            _run_due(worker)
            clock.advance(20)
        deadline = time.monotonic() + 60  # the webhooks echoing our replies may still be arriving
        while rt.queue.counts().get("queued") and time.monotonic() < deadline:
            _run_due(worker)
            clock.advance(20)
            time.sleep(0.1)
        for tid in tickets:
            assert _public_replies(loop, tid) == 1, tid
            routes = [d["route"] for d in loop.decisions(tid) if d["route"] != "ignore"]
            assert routes == ["auto_reply"], (tid, routes)
        counts = rt.queue.counts()
        assert not counts.get("dead") and not counts.get("queued") and not counts.get("running"), counts
        assert rt.breakers.get("acme")["state"] == "closed"  # type: ignore[index]
        assert httpx.get(f"{loop.gateway_url}/healthz").json()["status"] == "ok"
