"""The LLM path against a real model (`make test-llm`; skipped unless DESKHAND_TEST_LLM is set).

DESKHAND_TEST_LLM is an LLM spec (``openai:smollm2@http://127.0.0.1:8765/v1``, ``openai:gpt-4o-mini``
with OPENAI_API_KEY, ``anthropic:…``). `make test-llm` without it builds llama-cpp-python's server
and serves SmolLM2-135M-Instruct from its PyPI package (scripts/test-llm.sh). What is checked is
what the issue asks of a real model, not the quality of a tiny model's answers:

- the server answers the probe `deskhand doctor` sends, in a structured format it accepts (a
  refused format is recognised and downgraded once, never retried into a give-up);
- the demo's 14 tickets go through the whole loop (simulated Zendesk → gateway → two workers with a
  lease shorter than the LLM calls): every ticket decided once, every classification parsed into
  the account's categories, every reply checked by the guardrails, LLM failures (if any) counted
  with their cause, and no job taken over or run twice (one attempt each, no error).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

from deskhand.ai.llm import LLM, open_llm
from deskhand.ai.llm_check import PROBE_CATEGORIES, probe
from deskhand.demo.scenario import TICKETS
from deskhand.queue.letters import list_jobs
from deskhand.responder.worker import Worker
from deskhand.settings import Settings
from deskhand.store import Store
from deskhand.testing.loop import sim_loop

SPEC = os.environ.get("DESKHAND_TEST_LLM", "")
pytestmark = pytest.mark.skipif(
    not SPEC, reason="no real LLM configured: set DESKHAND_TEST_LLM to a spec, or run `make test-llm` "
    "(builds llama-cpp-python and serves a small PyPI-shipped model)")
TIMEOUT_S = float(os.environ.get("DESKHAND_TEST_LLM_TIMEOUT_S", "120"))
LEASE_S = 10.0  # shorter than a slow model's calls: only the heartbeat keeps a job its worker's


def _llm() -> LLM:
    llm = open_llm(SPEC, timeout_s=TIMEOUT_S, max_retries=1)
    assert llm is not None, "DESKHAND_TEST_LLM is an offline spec"
    return llm


def test_the_model_answers_the_doctors_probe() -> None:
    p = probe(_llm())
    assert p.ok, (p.error, p.advice)
    assert p.category in PROBE_CATEGORIES
    print(f"\n{p.llm}: format {p.asked_format} -> {p.format}, {p.latency_ms:.0f} ms, category {p.category}")


def test_the_demo_tickets_through_the_loop(store: Store, settings: Settings) -> None:
    llm = _llm()
    with sim_loop("zendesk", store, settings, mode="auto") as loop:
        loop.rt._llms = (llm, llm)
        ids = [loop.create(t.subject, t.body, email=t.email) for t in TICKETS]
        stop = threading.Event()
        workers = [Worker(loop.rt, name=f"w{i}", lease_s=LEASE_S) for i in range(2)]
        threads = [threading.Thread(target=w.run, args=(stop,), daemon=True) for w in workers]
        for th in threads:
            th.start()
        try:
            _wait_for_decisions(loop, ids, deadline_s=len(ids) * 6 * TIMEOUT_S)
        finally:
            stop.set()
            for th in threads:
                th.join(timeout=3 * TIMEOUT_S)
        decisions = {i: [d for d in loop.decisions(i) if d["route"] != "ignore"] for i in ids}
        jobs = list_jobs(loop.rt.store.engine, kind="handle_event", limit=1000)
    categories = set(PROBE_CATEGORIES) | _seed_categories()
    rows: list[dict[str, Any]] = []
    for ticket_id, found in decisions.items():
        assert len(found) == 1, f"ticket {ticket_id}: {len(found)} decisions"
        d = found[0]
        ev = d["evidence"]
        cls = ev["classification"]
        usage = ev["llm"]["usage"]
        classify = [u for u in usage if u["task"] == "classify"]
        assert classify and "error" not in classify[0], f"ticket {ticket_id}: classification failed: {classify}"
        assert cls["source"].startswith("llm") and d["category"] in categories, (d["category"], cls)
        if d["reply"]:
            assert "guardrails" in ev, f"ticket {ticket_id}: a reply nobody checked"
        assert ev["llm"]["failures"] == sum(1 for u in usage if "error" in u)
        rows.append({"ticket": ticket_id, "route": d["route"], "category": d["category"],
                     "confidence": d["confidence"], "failures": ev["llm"]["failures"],
                     "guardrails": (ev.get("guardrails") or {}).get("passed")})
    assert all((j["attempts"], j["last_error"]) == (1, None) for j in jobs), [
        (j["id"], j["attempts"], j["last_error"]) for j in jobs if j["attempts"] != 1 or j["last_error"]]
    renewals = sum(w.renewals for w in workers)
    print(f"\n{llm.name}: format now {getattr(llm, 'json_mode', '?')}; lease renewals {renewals}")
    for r in rows:
        print(r)


def _seed_categories() -> set[str]:
    from deskhand.ai.triage import load_seed

    return {r["category"] for r in load_seed()}


def _wait_for_decisions(loop: Any, ids: list[str], *, deadline_s: float) -> None:
    import time

    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        done = [i for i in ids if any(d["route"] != "ignore" for d in loop.decisions(i))]
        counts = loop.rt.queue.counts()
        if len(done) == len(ids) and not counts.get("queued") and not counts.get("running"):
            return
        time.sleep(0.5)
    raise AssertionError(f"not every ticket was decided within {deadline_s:.0f} s")
