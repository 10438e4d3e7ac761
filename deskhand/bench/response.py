"""`deskhand bench pipeline --rate R`: first-response time at a fixed ticket rate.

For each worker count K, on a fresh database: the simulator, the gateway and K warm `deskhand worker`
processes as in the throughput run (`deskhand.bench.pipeline`), then tickets are created through the
simulator's API at R per second (paced from one clock, not waiting for answers). For every measured
ticket the store says when its webhook reached the gateway (``events.received_at``), when the worker
started deciding (the decision's ``evidence.timing.started_at``), when the decision was stored
(``decisions.created_at``) and when its reply or note was posted in the helpdesk (the action's
``done_at``). First response = posted − received, split into queue wait (received → started),
decision (started → stored) and write-back (stored → posted: the action job's own queue wait and the
helpdesk call).

``llm_delay_ms``: the generation model is an OpenAI-compatible stand-in (`deskhand.testing.fake_llm`,
on loopback, through the real OpenAI adapter) that answers after that delay, as a hosted model would;
classification stays offline. Without it, the offline responder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select

from deskhand.bench.pipeline import (
    WARMUP_FROM,
    Desk,
    Say,
    count_jobs,
    desk,
    record,
    start_workers,
    stop_workers,
    wait_for,
    warm_up,
)
from deskhand.bench.webhooks import bench_database
from deskhand.store.schema import actions, decisions, events, jobs

STANDIN_ANSWER = {  # what the stand-in model writes: grounded in the first source, as a good answer is
    "enough_context": True,
    "answer": "Here is what to do, following the article: open the settings page named in it, apply the steps in "
    "order, and reply to this ticket if anything still fails.",
    "sources": [1],
}


def _stamp(value: datetime | float | None) -> float | None:
    if value is None:
        return None
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _tickets(d: Desk, n: int, start: int) -> list[str]:
    from deskhand.demo.scenario import TICKETS

    made = []
    for i in range(start, start + n):
        t = TICKETS[i % len(TICKETS)]
        who = {"requester_name": t.name, "requester_email": t.email} if d.names_requester else {}
        made.append(d.customer.create_ticket(subject=t.subject, body=f"{t.body}\n\n(Sent from workspace "
                                             f"{1000 + i}.)", **who).id)
    return made


def timings(d: Desk, ticket_ids: Sequence[str]) -> list[dict[str, float | None]]:
    """Per measured ticket: received, started, decided and posted (unix seconds; posted None when no
    reply or note was posted)."""
    with d.rt.store.engine.connect() as c:
        rows = c.execute(
            select(events.c.id, events.c.received_at, decisions.c.id.label("decision_id"), decisions.c.created_at,
                   decisions.c.evidence)
            .join(decisions, decisions.c.event_id == events.c.id)
            .where(events.c.ticket_id.in_(list(ticket_ids)), events.c.kind == "ticket_created")
        ).all()
        posted = dict(c.execute(
            select(actions.c.decision_id, func.min(actions.c.done_at))
            .where(actions.c.decision_id.in_([r.decision_id for r in rows]), actions.c.kind.in_(("reply", "note")),
                   actions.c.status == "done")
            .group_by(actions.c.decision_id)
        ).all())
    return [{"received": _stamp(r.received_at), "started": (r.evidence.get("timing") or {}).get("started_at"),
             "decided": _stamp(r.created_at), "posted": _stamp(posted.get(r.decision_id))} for r in rows]


def _spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    ms = np.asarray(values) * 1000
    return {f"p{q}": round(float(np.percentile(ms, q)), 1) for q in (50, 95, 99)}


def summarise(rows: list[dict[str, float | None]]) -> dict[str, Any]:
    """First response and its parts over the answered tickets, p50/p95/p99 in milliseconds."""
    answered = [r for r in rows if r["posted"] is not None and r["received"] is not None]
    parts: dict[str, list[float]] = {"first_response": [], "queue_wait": [], "decision": [], "write_back": []}
    for r in answered:
        received, decided, posted = r["received"], r["decided"], r["posted"]
        started = r["started"] if r["started"] is not None else received
        assert received is not None and decided is not None and posted is not None and started is not None
        parts["first_response"].append(posted - received)
        parts["queue_wait"].append(max(0.0, started - received))
        parts["decision"].append(max(0.0, decided - started))
        parts["write_back"].append(max(0.0, posted - decided))
    return {"answered": len(answered), "decided": len(rows)} | {f"{k}_ms": _spread(v) for k, v in parts.items()}


def measure_rate(
    url: str, k: int, tickets: int, rate: float, *, warmup: int, embed_threads: int, timeout_s: float, say: Say,
    redis_url: str | None = None, provider: str | None = None, llm_url: str | None = None,
) -> dict[str, Any]:
    """One run: ``k`` warm workers, ``tickets`` tickets created at ``rate`` per second."""
    extra = {"DESKHAND_LLM_GENERATE": f"openai:standin@{llm_url}"} if llm_url else {}
    with desk(url, say, redis_url, provider) as d:
        engine = d.rt.store.engine
        record(d, warmup * k, WARMUP_FROM, timeout_s)  # recorded before the workers start: they warm on them
        procs = start_workers(d, k, embed_threads, extra_env=extra)
        try:
            warmed = warm_up(engine, procs, timeout_s)
            if warmed < k:
                say(f"{k} worker(s): only {warmed} took a warm-up ticket (more --warmup gives each one)")
            say(f"{k} worker(s): {warmed} warm; creating {tickets} tickets at {rate:g}/s")
            load0 = os.getloadavg()[0]
            t0 = time.perf_counter()
            made: list[str] = []
            for i in range(tickets):  # paced from one clock: a slow create does not slow the schedule down
                pause = t0 + i / rate - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                made += _tickets(d, 1, i)
            offered_s = time.perf_counter() - t0

            def settled() -> bool:
                if any(p.poll() is not None for p in procs):
                    raise RuntimeError("a worker process exited during the run")
                return len(timings(d, made)) >= tickets and count_jobs(
                    engine, jobs.c.status.in_(("queued", "running"))) == 0

            wait_for(settled, timeout_s, "the measured tickets' answers", poll_s=0.1)
        finally:
            stop_workers(procs)
        rows = timings(d, made)
    return {"workers": k, "embed_threads": embed_threads, "warm_workers": warmed, "tickets": tickets,
            "rate": rate, "achieved_rate": round(tickets / offered_s, 2) if offered_s else None,
            "load_avg_1m": {"before": round(load0, 2), "after": round(os.getloadavg()[0], 2)}} | summarise(rows)


def run_response_bench(
    *, tickets: int, rate: float, workers: Sequence[int] = (2,), backend: str = "sqlite", warmup: int = 3,
    embed_threads: int | None = None, timeout_s: float = 600.0, redis_url: str | None = None, say: Say | None = None,
    provider: str | None = None, llm_delay_ms: float | None = None,
) -> dict[str, Any]:
    """First-response time at ``rate`` tickets/s for each worker count."""
    from deskhand.bench.pipeline import embed_threads_for
    from deskhand.testing.fake_llm import FakeLLMServer, Reply

    note: Say = say or (lambda _m: None)
    threads = embed_threads or embed_threads_for(max(workers))
    fake = None
    if llm_delay_ms is not None:
        fake = FakeLLMServer(default=Reply(json=STANDIN_ANSWER, delay_s=llm_delay_ms / 1000)).start()
    try:
        runs = []
        for k in workers:
            with bench_database(backend) as url:
                run = measure_rate(url, k, tickets, rate, warmup=warmup, embed_threads=threads, timeout_s=timeout_s,
                                   say=note, redis_url=redis_url, provider=provider,
                                   llm_url=fake.openai_base_url if fake else None)
            note(f"{k} worker(s): first response p50 {run['first_response_ms']['p50']} / p95 "
                 f"{run['first_response_ms']['p95']} ms")
            runs.append(run)
    finally:
        if fake is not None:
            fake.stop()
    return {"backend": backend, "tickets": tickets, "rate": rate, "llm_delay_ms": llm_delay_ms,
            "llm_requests": len(fake.requests) if fake is not None else 0,
            "responder": "offline" if llm_delay_ms is None else "LLM stand-in", "runs": runs,
            "machine": {"cpus": os.cpu_count()}}
