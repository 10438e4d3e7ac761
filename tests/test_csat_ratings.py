"""CSAT where the helpdesk keeps ratings apart from the ticket (resources.satisfaction): Freshdesk
survey results and JSM request feedback, served by the simulators, read into the outcome ledger when a
later event arrives on a solved ticket, and compared on /console/outcomes (deskhand vs people)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from deskhand.console.users import create_user
from deskhand.errors import ProviderError
from deskhand.model import EventKind, Status
from deskhand.responder.outcomes import entries, settle
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.sim.freshdesk_state import FreshdeskState
from deskhand.store import Store
from deskhand.testing.loop import Loop, sim_loop
from tests.test_outcomes import IDENT, NOW, OPEN, _entry, _event, _ticket, fake_read

PASSWORD = "correct horse battery"


def _rate(loop: Loop, provider: str, ticket_id: str, answer: int) -> None:
    """The customer answers the helpdesk's survey through its API (as the requester)."""
    http = loop.customer.http
    if provider == "freshdesk":
        http.request("POST", f"/tickets/{ticket_id}/satisfaction_ratings",
                     json={"ratings": {"default_question": answer}, "feedback": "thanks"})
    else:
        root = http.base_url.rsplit("/rest/api/", 1)[0]
        http.request("POST", f"{root}/rest/servicedeskapi/request/{ticket_id}/feedback",
                     json={"type": "csat", "rating": answer, "comment": {"body": "thanks"}},
                     headers={"X-ExperimentalApi": "opt-in"})


def _dashboard_csat(store: Store) -> list[tuple[str, str, str]]:
    from deskhand.gateway.app import create_app

    create_user(store.engine, "vic", "default", "viewer", PASSWORD)
    with TestClient(create_app(Runtime(store)), base_url="http://testserver", follow_redirects=False) as client:
        form = client.get("/console/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        r = client.post("/console/login", data={"username": "vic", "password": PASSWORD, "csrf_token": token})
        assert r.status_code == 303
        html = client.get("/console/outcomes").text
    return re.findall(r"<tr><td>(deskhand|people)</td><td>(\d+)</td><td>(\d+)</td>", html)


@pytest.mark.parametrize(("provider", "answer", "csat", "outcome", "good"), [
    ("freshdesk", 103, "good", "resolved", "1"),   # extremely happy
    ("jira", 2, "bad", "failed", "0"),             # two stars of five
])
def test_a_rating_reaches_the_ledger_and_the_dashboard(store: Store, settings: Settings, provider: str, answer: int,
                                                       csat: str, outcome: str, good: str) -> None:
    with sim_loop(provider, store, settings, mode="auto") as loop:
        tid = loop.create("How do I reset my password?", "I forgot my password. How do I reset it?")
        loop.drain()
        (entry,) = entries(store)
        assert entry["route"] == "auto_reply" and entry["outcome"] == "pending" and entry["csat"] is None
        connector = loop.rt.connector(store.get_account("acme"))
        assert connector.satisfaction(tid) is None  # no rating yet (JSM: a 404)
        _rate(loop, provider, tid, answer)
        assert connector.satisfaction(tid) == csat
        loop.set_status(tid, "solved")
        loop.drain()
        entry = next(e for e in entries(store) if e["id"] == entry["id"])
        assert (entry["csat"], entry["outcome"], entry["signal"]) == (csat, outcome, f"CSAT {csat}")
    assert _dashboard_csat(store) == [("deskhand", "1", good), ("people", "0", "0")]


def test_a_neutral_rating_is_recorded_but_settles_nothing() -> None:
    got = settle(_entry("auto_reply"), _event(EventKind.TICKET_UPDATED), _ticket(Status.SOLVED, OPEN), IDENT, NOW,
                 fake_read, "neutral")
    assert got == {"csat": "neutral", "last_status": "solved"}
    got = settle(_entry("auto_reply"), _event(EventKind.TICKET_UPDATED), _ticket(Status.SOLVED, OPEN), IDENT, NOW,
                 fake_read, "good")
    assert got["csat"] == "good" and got["outcome"] == "resolved"


def test_freshdesk_simulator_serves_ratings_like_the_api() -> None:
    from deskhand.sim.freshdesk import DEFAULT_API_KEY, create_app

    state = FreshdeskState(clock=lambda: 1_780_000_000.0)
    seeded = state.seed_tickets(40)
    rated = [r for rows in state.ratings.values() for r in rows]
    assert rated and all(state.tickets[r["ticket_id"]]["status"] in (4, 5) for r in rated)
    client = TestClient(create_app(state, rate_limit=10_000), base_url="http://sim.test")
    client.auth = (DEFAULT_API_KEY, "X")
    tid = seeded[0]
    before = len(state.ratings.get(tid, []))
    bad = client.post(f"/api/v2/tickets/{tid}/satisfaction_ratings", json={"ratings": {"default_question": 7}})
    assert bad.status_code == 400 and len(state.ratings.get(tid, [])) == before  # bad input changes nothing
    made = client.post(f"/api/v2/tickets/{tid}/satisfaction_ratings",
                       json={"ratings": {"default_question": -103}, "feedback": "slow"})
    assert made.status_code == 201
    body: dict[str, Any] = made.json()
    assert {"id", "survey_id", "user_id", "agent_id", "feedback", "group_id", "ticket_id", "ratings"} <= set(body)
    listed = client.get(f"/api/v2/tickets/{tid}/satisfaction_ratings").json()
    assert listed[-1]["ratings"] == {"default_question": -103} and len(listed) == before + 1
    everything = client.get("/api/v2/surveys/satisfaction_ratings", params={"per_page": 100}).json()
    assert len(everything) == len(rated) + 1
    since = client.get("/api/v2/surveys/satisfaction_ratings", params={"created_since": "2026-05-28T20:26:40Z"}).json()
    assert [r["id"] for r in since] == [body["id"]]
    assert client.get("/api/v2/tickets/999999/satisfaction_ratings").status_code == 404


def test_jsm_feedback_needs_the_experimental_header_and_is_404_until_given(store: Store, settings: Settings) -> None:
    with sim_loop("jira", store, settings, mode=None, knowledge=False) as loop:
        tid = loop.create("Printer", "It jams.")
        http = loop.customer.http
        url = http.base_url.rsplit("/rest/api/", 1)[0] + f"/rest/servicedeskapi/request/{tid}/feedback"
        with pytest.raises(ProviderError) as missing:
            http.request("GET", url, headers={"X-ExperimentalApi": "opt-in"})
        assert missing.value.status == 404
        with pytest.raises(ProviderError) as plain:
            http.request("GET", url)
        assert plain.value.status == 400
        with pytest.raises(ProviderError) as wrong:
            http.request("POST", url, json={"type": "csat", "rating": 9}, headers={"X-ExperimentalApi": "opt-in"})
        assert wrong.value.status == 400
        _rate(loop, "jira", tid, 5)
        got = http.request("GET", url, headers={"X-ExperimentalApi": "opt-in"}).json()
        assert got == {"type": "csat", "rating": 5, "comment": {"body": "thanks"}}
