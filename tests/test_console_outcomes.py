"""The outcomes dashboard (deskhand.console.outcomes): a ledger seeded with known rows (events,
decisions, posted replies, outcomes with CSAT) gives known figures — counts by route, rates,
first-response time p50/p95 from the ticket's first event to deskhand's posted reply, CSAT for
deskhand's answers vs people's with their counts — drawn as inline SVG; another tenant's rows never
count. Also the pure parts: percentile and the CSAT split."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from deskhand.console.outcomes import FEW_RATINGS, csat, percentile
from deskhand.console.users import create_user
from deskhand.runtime import Runtime
from deskhand.store import Store
from deskhand.store import schema as t
from deskhand.store.store import now
from deskhand.store.tables_autonomy import outcomes

PASSWORD = "correct horse battery"


@pytest.mark.parametrize("values,q,expected", [
    ([], 50, None), ([7.0], 95, 7.0), ([1.0, 2.0, 3.0, 4.0], 50, 2.0), ([float(i) for i in range(1, 101)], 95, 95.0),
], ids=["empty", "one", "even-median", "hundred-p95"])
def test_percentile_is_nearest_rank(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == expected


def test_csat_splits_deskhands_answers_from_peoples_and_marks_few_ratings() -> None:
    rows = [{"csat": "good", "route": "auto_reply", "outcome": "resolved", "mode": "auto"},
            {"csat": "bad", "route": "auto_reply", "outcome": "failed", "mode": "auto"},
            {"csat": "good", "route": "draft", "outcome": "accepted", "mode": "draft"},
            {"csat": "good", "route": "draft", "outcome": "discarded", "mode": "draft"},  # a person wrote it
            {"csat": "bad", "route": "human", "outcome": "handled", "mode": "draft"},
            {"csat": "good", "route": "auto_reply", "outcome": "resolved", "mode": "shadow"},  # never sent
            {"csat": None, "route": "auto_reply", "outcome": "resolved", "mode": "auto"}]
    assert csat(rows) == [
        {"who": "deskhand", "ratings": 3, "good": 2, "share": 0.6667, "few": True},
        {"who": "people", "ratings": 2, "good": 1, "share": 0.5, "few": True},
    ]
    # one ticket, one rating: deskhand answered it, a later decision routed it to a person
    again = [{"csat": "bad", "route": "auto_reply", "outcome": "failed", "mode": "auto", "account": "a",
              "ticket_id": "7"},
             {"csat": "bad", "route": "human", "outcome": "pending", "mode": "auto", "account": "a", "ticket_id": "7"},
             {"csat": "neutral", "route": "human", "outcome": "handled", "mode": "auto", "account": "a",
              "ticket_id": "8"}]
    assert [(c["who"], c["ratings"], c["good"]) for c in csat(again)] == [("deskhand", 1, 0), ("people", 1, 0)]
    many = [{"csat": "good", "route": "auto_reply", "outcome": "resolved", "mode": "auto"}] * FEW_RATINGS
    assert csat(many)[0]["few"] is False


def _seed(store: Store, tenant: str, account: str, ticket: str, *, route: str, outcome: str,
          reply_after_s: float | None, csat_value: str | None = None, category: str = "how_to") -> None:
    created = now() - timedelta(hours=2)
    with store.transaction() as conn:
        event_id = conn.execute(insert(t.events).values(
            tenant_id=tenant, account=account, provider="zendesk", kind="ticket_created", ticket_id=ticket,
            delivery_id=f"d-{account}-{ticket}", occurred_at=created, received_at=created + timedelta(seconds=1),
            payload={})).inserted_primary_key[0]
        decision_id = conn.execute(insert(t.decisions).values(
            tenant_id=tenant, account=account, event_id=event_id, ticket_id=ticket, route=route, category=category,
            confidence=0.9, rules=[], reasons=[], evidence={}, reply="hi", created_at=created + timedelta(seconds=2),
        )).inserted_primary_key[0]
        if reply_after_s is not None:
            conn.execute(insert(t.actions).values(
                key=f"k-{decision_id}", decision_id=decision_id, account=account, ticket_id=ticket, seq=0,
                kind="reply", params={}, status="done", done_at=created + timedelta(seconds=reply_after_s)))
        conn.execute(insert(outcomes).values(
            decision_id=decision_id, account=account, provider="zendesk", ticket_id=ticket, category=category,
            route=route, mode="auto", question="q", body="hi", best_score=0.8, cost_usd=0.01, last_status="solved",
            outcome=outcome, csat=csat_value, created_at=created + timedelta(seconds=2),
            settled_at=created + timedelta(hours=1)))


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    from deskhand.gateway.app import create_app

    for name, tenant in (("acme", "default"), ("globex", "elsewhere")):
        store.save_account(name, "zendesk", {"subdomain": name, "email": "a@x.test", "api_token": "t",
                                             "webhook_secret": "s", "base_url": "http://127.0.0.1:9"}, tenant_id=tenant)
    create_user(store.engine, "vic", "default", "viewer", PASSWORD)
    create_user(store.engine, "eve", "elsewhere", "viewer", PASSWORD)
    rows: list[dict[str, Any]] = [
        {"ticket": "1", "route": "auto_reply", "outcome": "resolved", "reply_after_s": 60, "csat_value": "good"},
        {"ticket": "2", "route": "auto_reply", "outcome": "reopened", "reply_after_s": 120},
        {"ticket": "3", "route": "auto_reply", "outcome": "failed", "reply_after_s": 600, "csat_value": "bad"},
        {"ticket": "4", "route": "draft", "outcome": "accepted", "reply_after_s": 1800, "category": "billing"},
        {"ticket": "5", "route": "human", "outcome": "handled", "reply_after_s": None, "csat_value": "good"},
    ]
    for r in rows:
        _seed(store, "default", "acme", **r)
    for i in range(7):  # another tenant's busy day: none of it may show
        _seed(store, "elsewhere", "globex", f"g{i}", route="auto_reply", outcome="resolved", reply_after_s=5)
    with TestClient(create_app(Runtime(store)), base_url="http://testserver", follow_redirects=False) as c:
        yield c


def _login(client: TestClient, username: str) -> None:
    form = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    r = client.post("/console/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303


def _total(html: str, name: str) -> str:
    found = re.search(rf"<dt>{re.escape(name)}</dt><dd>(.*?)</dd>", html, re.S)
    assert found, name
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def test_the_dashboard_shows_the_tenants_figures_charts_and_csat(client: TestClient) -> None:
    _login(client, "vic")
    html = client.get("/console/outcomes").text
    counts = [_total(html, k) for k in ("Decisions", "Auto-replied", "Drafted", "Routed to a person")]
    assert counts == ["5", "3", "1", "1"]
    assert _total(html, "Automatic resolution") == "20.0%"  # 1 resolved of 5 decisions
    assert _total(html, "Reopen") == "33.3%" and _total(html, "Failed or reopened") == "66.7%"
    # first response: 60, 120, 600, 1800 s (ticket 5 had no reply of ours) → p50 120 s, p95 1800 s
    assert _total(html, "First response p50 / p95") == "2.0 min / 30.0 min (4 replies)"
    assert html.count('<svg class="chart"') == 3 and "<title" in html and "style=" not in html
    assert "Decisions per day by route" in html and "auto-replied: 3 in all" in html
    csat_rows = re.findall(r"<tr><td>(deskhand|people)</td><td>(\d+)</td><td>(\d+)</td>", html)
    assert csat_rows == [("deskhand", "2", "1"), ("people", "1", "1")]
    assert "fewer than 30 ratings" in html
    billing = client.get("/console/outcomes", params={"category": "billing", "account": "acme", "days": 7}).text
    assert _total(billing, "Decisions") == "1" and _total(billing, "First response p50 / p95").startswith("30.0 min")


def test_another_tenant_sees_only_its_own_ledger(client: TestClient) -> None:
    _login(client, "eve")
    html = client.get("/console/outcomes", params={"account": "acme"}).text  # not theirs: ignored, not shown
    assert _total(html, "Decisions") == "7" and "acme" not in html and "how_to" in html
