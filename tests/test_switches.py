"""Kill switches: manual levels, the automatic quality switch at its threshold (scripted over loopback),
write-error bursts, the LLM cost cap, and alerts POSTed to a webhook."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI, Request

from deskhand.errors import ConfigError
from deskhand.responder import switches
from deskhand.responder.modes import Mode, get_mode, set_mode
from deskhand.settings import Settings
from deskhand.sim.base import SimServer
from deskhand.store import Store
from deskhand.store.tables_autonomy import outcomes
from deskhand.testing.loop import sim_loop

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def alerts() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []
    lock = threading.Lock()
    app = FastAPI()

    @app.post("/alerts")
    async def receive(request: Request) -> dict[str, bool]:
        with lock:
            got.append(await request.json())
        return {"ok": True}

    server = SimServer(app).start()
    yield f"{server.url}/alerts", got
    server.stop()


@pytest.mark.parametrize(
    ("scope", "target", "covered", "not_covered"),
    [
        ("global", {}, ("acme", "zendesk", "billing"), None),
        ("account", {"account": "acme"}, ("acme", "zendesk", "billing"), ("beta", "zendesk", "billing")),
        ("provider", {"provider": "jira"}, ("acme", "jira", None), ("acme", "zendesk", None)),
        ("category", {"account": "acme", "category": "billing"}, ("acme", "zendesk", "billing"),
         ("acme", "zendesk", "how_to")),
    ],
    ids=["global", "account", "provider", "category"],
)
def test_manual_switches_cap_what_they_cover_until_reset(
    store: Store, scope: str, target: dict[str, str], covered: tuple[Any, ...], not_covered: tuple[Any, ...] | None
) -> None:
    sid = switches.trip(store, scope, reason="incident 42", actor="ann", cap="shadow", **target)
    cap = switches.cap_for(store, *covered)
    assert cap is not None and cap[0] is Mode.SHADOW and "incident 42" in cap[1]
    if not_covered:
        assert switches.cap_for(store, *not_covered) is None
    assert [s["id"] for s in switches.list_switches(store)] == [sid]
    switches.reset(store, sid, actor="bob", reason="incident 42 closed")
    assert switches.cap_for(store, *covered) is None
    assert switches.list_switches(store) == []
    with pytest.raises(ConfigError):
        switches.reset(store, sid, actor="carol", reason="again")
    (row,) = switches.list_switches(store, include_reset=True)
    assert (row["reset_by"], row["reset_reason"]) == ("bob", "incident 42 closed")  # the second reset changed nothing


def test_a_switch_needs_its_target_and_a_reason(store: Store) -> None:
    with pytest.raises(ConfigError):
        switches.trip(store, "category", reason="x", actor="ann")
    with pytest.raises(ConfigError):
        switches.trip(store, "global", reason=" ", actor="ann")


def _settled(store: Store, n_good: int, n_bad: int, *, category: str = "billing", start: int = 0) -> None:
    with store.transaction() as c:
        for i in range(n_good + n_bad):
            c.execute(outcomes.insert().values(
                decision_id=start + i + 1, account="acme", provider="zendesk", ticket_id=str(start + i),
                category=category, route="auto_reply", mode="auto", question="q", body="b", best_score=0.7,
                cost_usd=0.0, last_status="pending", outcome="failed" if i >= n_good else "resolved",
                signal="test", created_at=T0, settled_at=T0 + timedelta(minutes=i)))


@pytest.mark.parametrize(
    ("good", "bad", "trips"),
    [(19, 1, False), (18, 2, True), (5, 1, False), (9, 1, True), (0, 0, False)],
    ids=["5pct-is-not-past-the-threshold", "10pct-trips", "under-min-sample", "min-sample-reached", "empty"],
)
def test_quality_switch_trips_past_the_threshold_with_enough_sample(store: Store, good: int, bad: int,
                                                                     trips: bool) -> None:
    store.save_account("acme", "zendesk", {}, settings={})
    set_mode(store, "acme", "auto", actor="ann")
    _settled(store, good, bad)
    sid = switches.evaluate(store, "acme", "billing", at=T0 + timedelta(hours=1))
    assert (sid is not None) is trips
    assert get_mode(store, "acme", "billing").mode is (Mode.DRAFT if trips else Mode.AUTO)
    assert get_mode(store, "acme", "how_to").mode is Mode.AUTO  # only the category is demoted


def test_write_error_burst_trips_the_provider_switch(store: Store, alerts: tuple[str, list[Any]]) -> None:
    url, got = alerts
    store.save_account("acme", "zendesk", {}, settings={"write_error_burst": 3, "alert_webhook_url": url})
    stamps = [T0, T0 + timedelta(seconds=10), T0 + timedelta(minutes=30), T0 + timedelta(minutes=31),
              T0 + timedelta(minutes=32)]
    tripped = [switches.note_write_error(store, "acme", "zendesk", "422 closed ticket", at=s) for s in stamps]
    assert tripped[:4] == [None] * 4 and tripped[4] is not None  # the first two fell out of the window
    assert switches.cap_for(store, "acme", "zendesk", "billing") is not None
    assert got and got[0]["alert"] == "autonomy.write_errors"


def test_llm_cost_cap_per_hour_trips_the_account(store: Store) -> None:
    store.save_account("acme", "zendesk", {}, settings={"llm_cost_cap_per_hour": "1.0"})
    assert switches.note_llm_cost(store, "acme", "zendesk", 0.6, at=T0) is None
    assert switches.note_llm_cost(store, "acme", "zendesk", 0.6, at=T0 + timedelta(hours=2)) is None
    sid = switches.note_llm_cost(store, "acme", "zendesk", 0.5, at=T0 + timedelta(hours=2, minutes=5))
    assert sid is not None
    (row,) = switches.list_switches(store)
    assert row["scope"] == "account" and "cap $1.00" in row["reason"]


RESET_Q = ("How do I reset my password?", "I forgot my password and cannot sign in. How do I reset it?")


def test_scripted_didnt_help_replies_and_a_reopen_trip_the_switch_and_demote_the_category(
    store: Store, settings: Settings, alerts: tuple[str, list[Any]]
) -> None:
    url, got = alerts
    cfg = {"autonomy_min_sample": "4", "autonomy_failure_threshold": "0.3", "alert_webhook_url": url}
    with sim_loop("zendesk", store, settings, mode="auto", account_settings=cfg) as loop:
        tids = [loop.create(*RESET_Q) for _ in range(5)]
        loop.drain()
        cats = {d["category"] for t in tids for d in loop.decisions(t) if d["route"] == "auto_reply"}
        assert len(cats) == 1, cats
        (category,) = cats
        loop.customer_says(tids[0], "Thanks, that worked! I'm back in.")
        loop.customer_says(tids[1], "Perfect, that fixed it.")
        loop.customer_says(tids[2], "That didn't help, I still can't log in.")
        loop.drain()
        assert switches.list_switches(store) == []  # 1/3: under the minimum sample
        loop.set_status(tids[3], "solved")
        loop.customer_says(tids[3], "Hmm, actually I have the same problem again.")  # solved → open
        loop.drain()
        from deskhand.responder.outcomes import entries

        settled: dict[str, str] = {}
        for e in entries(store):  # the first entry of each ticket: our automatic reply
            settled.setdefault(e["ticket_id"], e["outcome"])
        assert [settled[t] for t in tids[:4]] == ["resolved", "resolved", "failed", "reopened"]
        (switch,) = switches.list_switches(store)  # 2/4 = 50 % > 30 %
        assert switch["automatic"] and switch["scope"] == "category" and switch["category"] == category
        assert "2/4" in switch["reason"]
        assert get_mode(store, "acme", category).mode is Mode.DRAFT
        assert got and got[-1]["alert"] == "autonomy.demoted"
        tid = loop.create(*RESET_Q)
        loop.drain()
        (d,) = [d for d in loop.decisions(tid) if d["route"] != "ignore"]
        assert d["route"] == "draft"
