"""The Freshdesk simulator driven by the real python-freshdesk client and raw HTTP over loopback."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest
from freshdesk.v2.api import API
from freshdesk.v2.errors import FreshdeskBadRequest, FreshdeskNotFound, FreshdeskRateLimited, FreshdeskUnauthorized

from deskhand.sim.base import ManualClock
from deskhand.sim.freshdesk import DEFAULT_API_KEY, FreshdeskSim, start
from deskhand.sim.freshdesk_state import FreshdeskState

AUTH = (DEFAULT_API_KEY, "X")
DAY = 86400.0


@pytest.fixture
def sim():
    with start() as server:
        yield server


@pytest.fixture
def http(sim: FreshdeskSim):
    with httpx.Client(base_url=f"{sim.url}/api/v2", auth=AUTH, timeout=10) as client:
        yield client


def client_for(sim: FreshdeskSim, key: str = DEFAULT_API_KEY) -> API:
    """python-freshdesk, unchanged, pointed at the simulator (FACTS.md §6.6)."""
    api = API("sim.freshdesk.com", key)
    api._api_prefix = f"{sim.url}/api/v2/"
    return api


@pytest.fixture
def api(sim: FreshdeskSim) -> API:
    return client_for(sim)


def new_ticket(http: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"subject": "Printer on fire", "description": "It is smoking.", "email": "cus@example.com", **fields}
    response = http.post("/tickets", json=body)
    assert response.status_code == 201, response.text
    return response.json()


# ----------------------------------------------------------------------------- the real client


def test_client_creates_ticket_with_freshdesk_defaults_and_reuses_the_requester(sim, api) -> None:
    ticket = api.tickets.create_ticket("Refund", email="cus@example.com", name="Cus Tomer",
                                       description="<div>Charged twice</div>", tags=["billing"])
    assert (ticket.status, ticket.priority, ticket.source) == ("open", "low", "portal")
    shown = api.tickets.get_ticket(ticket.id, "requester")
    assert shown.description_text == "Charged twice" and shown.tags == ["billing"]
    assert shown.requester["email"] == "cus@example.com" and shown.requester["name"] == "Cus Tomer"
    again = api.tickets.create_ticket("Again", email="CUS@example.com", description="x")
    assert again.requester_id == ticket.requester_id  # found by email, not duplicated
    assert [c.email for c in api.contacts.list_contacts()].count("cus@example.com") == 1


def test_client_lists_250_tickets_across_three_pages_with_link_headers(sim, api, http) -> None:
    sim.state.seed_tickets(250, random.Random(7), days=20)
    assert len({t.id for t in api.tickets.list_tickets(filter_name=None)}) == 250
    first = http.get("/tickets", params={"per_page": 100})
    assert len(first.json()) == 100
    assert first.headers["link"] == f'<{sim.url}/api/v2/tickets?per_page=100&page=2>; rel="next"'
    second = httpx.get(first.links["next"]["url"], auth=AUTH)
    third = httpx.get(second.links["next"]["url"], auth=AUTH)
    assert len(third.json()) == 50 and "link" not in third.headers
    ids = [t["id"] for page in (first, second, third) for t in page.json()]
    assert len(set(ids)) == 250


def test_client_replies_adds_private_and_public_notes_and_reads_them_back(sim, api) -> None:
    ticket = api.tickets.create_ticket("VPN down", email="cus@example.com", description="No VPN")
    reply = api.comments.create_reply(ticket.id, "We are on it")
    private = api.comments.create_note(ticket.id, "Looks like the known outage", private=True)
    public = api.comments.create_note(ticket.id, "Status page updated", private=False)
    assert (reply.source, reply.private, reply.incoming) == ("reply", False, False)
    assert reply.to_emails == ["cus@example.com"]
    assert [(c.source, c.private, c.body_text) for c in api.comments.list_comments(ticket.id)] == [
        ("reply", False, "We are on it"), ("note", True, "Looks like the known outage"),
        ("note", False, "Status page updated")]
    assert private.user_id == public.user_id == sim.state.admin["id"]


def test_client_changes_status_and_tags_replace_the_whole_set(sim, api) -> None:
    ticket = api.tickets.create_ticket("Login", email="cus@example.com", description="x", tags=["a", "b"])
    agent = sim.state.people.staff[0]["id"]
    updated = api.tickets.update_ticket(ticket.id, status=3, tags=["c"], responder_id=agent, priority=4)
    assert (updated.status, updated.tags, updated.responder_id, updated.priority) == ("pending", ["c"], agent, "urgent")
    assert api.tickets.get_ticket(ticket.id).tags == ["c"]
    stats = api.tickets.get_ticket(ticket.id, "stats").stats
    assert stats["pending_since"] is not None and stats["resolved_at"] is None
    for status, name in ((4, "resolved"), (5, "closed"), (7, "status_7"), (2, "open")):
        assert api.tickets.update_ticket(ticket.id, status=status).status == name


def test_client_search_pages_by_30_and_stops_at_page_10(sim, api, http) -> None:
    sim.state.seed_tickets(400, random.Random(3))
    found = api.tickets.filter_tickets("status:2 OR status:3 OR status:4 OR status:5")
    assert len(found) == 300  # 10 pages of 30: the ceiling
    assert http.get("/search/tickets", params={"query": '"priority:1"', "page": 11}).status_code == 400


def test_seeded_tickets_read_cleanly_through_the_client(sim, api) -> None:
    sim.state.seed_tickets(40, random.Random(5), days=10)
    tickets = api.tickets.list_tickets(filter_name=None)
    assert {t.status for t in tickets} >= {"open", "resolved"}
    sources = [c.source for t in tickets for c in api.comments.list_comments(t.id)]
    assert {"reply", "note"} <= set(sources)
    assert all(t.created_at <= t.updated_at for t in tickets)


# --------------------------------------------------------------------------------- behaviour


def test_default_list_shows_30_days_and_updated_since_reaches_older_tickets() -> None:
    clock = ManualClock(1_800_000_000.0)
    with start(FreshdeskState(clock=clock), clock=clock) as sim:
        body = {"subject": "s", "description": "x", "email": "a@x.test"}
        old = sim.state.create_ticket(body, at=clock() - 40 * DAY)
        new = sim.state.create_ticket(body, at=clock() - DAY)
        with httpx.Client(base_url=f"{sim.url}/api/v2", auth=AUTH) as http:
            assert [t["id"] for t in http.get("/tickets").json()] == [new["id"]]
            since = http.get("/tickets", params={"updated_since": "2020-01-01T00:00:00Z", "order_by": "updated_at",
                                                 "order_type": "asc"}).json()
            assert [t["id"] for t in since] == [old["id"], new["id"]]


def test_new_and_my_open_view_holds_unassigned_and_my_open_tickets(sim, api, http) -> None:
    mine, theirs, pending = (new_ticket(http) for _ in range(3))
    other = sim.state.people.staff[0]["id"]
    http.put(f"/tickets/{mine['id']}", json={"responder_id": sim.state.admin["id"]})
    http.put(f"/tickets/{theirs['id']}", json={"responder_id": other})
    http.put(f"/tickets/{pending['id']}", json={"status": 3})
    assert {t.id for t in api.tickets.list_tickets()} == {mine["id"]}  # the client's default view


def test_customer_reply_is_incoming_and_reopens_a_resolved_ticket(sim, http) -> None:
    ticket = new_ticket(http, status=4)
    reply = http.post(f"/tickets/{ticket['id']}/reply", json={"body": "Still broken",
                                                             "user_id": ticket["requester_id"]}).json()
    assert (reply["incoming"], reply["from_email"]) == (True, "cus@example.com")
    shown = http.get(f"/tickets/{ticket['id']}", params={"include": "stats"}).json()
    assert shown["status"] == 2 and shown["stats"]["reopened_at"] is not None


def test_deleted_ticket_leaves_lists_shows_deleted_and_can_be_restored(sim, api, http) -> None:
    ticket = new_ticket(http)
    api.tickets.delete_ticket(ticket["id"])
    assert http.get(f"/tickets/{ticket['id']}").json()["deleted"] is True
    assert http.get("/tickets").json() == []
    assert [t["id"] for t in http.get("/tickets", params={"filter": "deleted"}).json()] == [ticket["id"]]
    assert http.put(f"/tickets/{ticket['id']}", json={"status": 3}).status_code == 404
    assert http.put(f"/tickets/{ticket['id']}/restore").status_code == 204
    assert [t["id"] for t in http.get("/tickets").json()] == [ticket["id"]]
    assert "deleted" not in http.get(f"/tickets/{ticket['id']}").json()


# every key of a real list row fetched with include=description,requester,stats (key names of the
# capture in airbytehq/airbyte source-freshdesk unit_tests/resource/http/response/tickets.json)
REAL_LIST_ROW = {
    "cc_emails", "fwd_emails", "reply_cc_emails", "ticket_cc_emails", "ticket_bcc_emails", "fr_escalated", "spam",
    "email_config_id", "group_id", "priority", "requester_id", "responder_id", "source", "company_id", "status",
    "subject", "association_type", "support_email", "to_emails", "product_id", "id", "type", "due_by", "fr_due_by",
    "is_escalated", "custom_fields", "created_at", "updated_at", "associated_tickets_count", "tags", "description",
    "description_text", "requester", "stats", "structured_description", "nr_due_by", "nr_escalated",
}


def test_list_rows_have_the_keys_of_a_real_capture(sim, http) -> None:
    new_ticket(http)
    [row] = http.get("/tickets", params={"include": "description,requester,stats"}).json()
    assert set(row) == REAL_LIST_ROW
    assert set(row["requester"]) == {"id", "name", "email", "mobile", "phone"}
    assert set(row["stats"]) == {"agent_responded_at", "requester_responded_at", "first_responded_at",
                                 "status_updated_at", "reopened_at", "resolved_at", "closed_at", "pending_since"}


def test_list_rows_omit_the_description_unless_included(sim, http) -> None:
    new_ticket(http)
    row = http.get("/tickets").json()[0]
    assert "description" not in row and {"created_at", "updated_at", "tags", "requester_id"} <= set(row)
    full = http.get("/tickets", params={"include": "description,requester"})
    assert full.json()[0]["description_text"] == "It is smoking." and full.json()[0]["requester"]["email"]
    assert full.headers["x-ratelimit-used-currentrequest"] == "3"


@pytest.mark.parametrize(("body", "field", "code"), [
    ({"status": 9}, "status", "invalid_value"),
    ({"status": 1}, "status", "invalid_value"),
    ({"status": "open"}, "status", "datatype_mismatch"),
    ({"priority": 5}, "priority", "invalid_value"),
    ({"type": "Rant"}, "type", "invalid_value"),
    ({"tags": "a,b"}, "tags", "datatype_mismatch"),
    ({"tags": ["x" * 33]}, "tags", "invalid_value"),
    ({"colour": "red"}, "colour", "invalid_field"),
    ({"responder_id": 1}, "responder_id", "invalid_value"),
    ({"email": None}, "requester_id", "missing_field"),
    ({"subject": None}, "subject", "missing_field"),
], ids=["status_unknown", "status_below_2", "status_as_name", "priority_5", "type_unknown", "tags_not_array",
        "tag_too_long", "unknown_field", "responder_not_agent", "no_requester", "no_subject"])
def test_create_refuses_bad_input_with_freshdesk_validation_body(sim, http, body, field, code) -> None:
    base = {"subject": "s", "description": "d", "email": "cus@example.com"}
    response = http.post("/tickets", json={k: v for k, v in {**base, **body}.items() if v is not None})
    assert response.status_code == 400
    assert response.json()["description"] == "Validation failed"
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [(field, code)]
    assert sim.state.tickets == {}


def test_malformed_json_and_wrong_content_type_are_refused(sim, http) -> None:
    bad = http.post("/tickets", content=b'{"subject": "trunc', headers={"content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "invalid_json"
    plain = http.post("/tickets", content=b"subject=x", headers={"content-type": "text/plain"})
    assert plain.status_code == 415 and plain.json()["code"] == "invalid_content_type"


def test_client_raises_its_own_errors_for_real_error_bodies(sim, api) -> None:
    with pytest.raises(FreshdeskBadRequest, match="Validation failed"):
        api.tickets.create_ticket("x", email="cus@example.com", description="d", status=42)
    with pytest.raises(FreshdeskNotFound):
        api.tickets.get_ticket(999)
    with pytest.raises(FreshdeskUnauthorized, match="You have to be logged in"):
        client_for(sim, "wrong-key").tickets.get_ticket(1)


@pytest.mark.parametrize("auth", [None, ("wrong", "X"), ("", "X")], ids=["missing", "wrong_key", "empty_key"])
def test_bad_credentials_get_401_with_the_real_body(sim, auth) -> None:
    response = httpx.get(f"{sim.url}/api/v2/tickets", auth=auth)
    assert response.status_code == 401
    assert response.json() == {"code": "invalid_credentials",
                               "message": "You have to be logged in to perform this action."}
    assert "x-ratelimit-remaining" not in response.headers


def test_any_password_works_with_the_key_and_a_second_key_acts_as_its_agent(sim, http) -> None:
    agent = sim.state.people.staff[1]
    sim.state.api_keys["agent-key"] = agent["id"]
    assert httpx.get(f"{sim.url}/api/v2/agents/me", auth=("agent-key", "anything")).json()["id"] == agent["id"]
    ticket = new_ticket(http)
    note = httpx.post(f"{sim.url}/api/v2/tickets/{ticket['id']}/notes", json={"body": "mine"},
                      auth=("agent-key", "X")).json()
    assert note["user_id"] == agent["id"]


@pytest.mark.parametrize(("params", "field"), [
    ({"per_page": 101}, "per_page"), ({"page": 301}, "page"), ({"page": 0}, "page"),
    ({"filter": "all_tickets"}, "filter"), ({"order_by": "subject"}, "order_by"),
    ({"updated_since": "yesterday"}, "updated_since"), ({"include": "conversations"}, "include"),
], ids=["per_page_over_100", "page_over_300", "page_zero", "unknown_view", "unknown_sort", "bad_time",
        "include_not_for_lists"])
def test_list_parameters_are_validated(sim, http, params, field) -> None:
    response = http.get("/tickets", params=params)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


def test_unknown_ticket_is_a_bare_404(sim, http) -> None:
    for response in (http.get("/tickets/77"), http.post("/tickets/77/reply", json={"body": "x"})):
        assert response.status_code == 404 and response.content == b""


# ------------------------------------------------------------------------------- rate limits


def test_tickets_list_budget_answers_429_with_retry_after_then_recovers() -> None:
    clock = ManualClock()
    with start(FreshdeskState(clock=clock), plan="growth", clock=clock) as sim:
        api = client_for(sim)
        with httpx.Client(base_url=f"{sim.url}/api/v2", auth=AUTH) as http:
            for i in range(20):
                response = http.get("/tickets")
                assert response.status_code == 200, i
            assert response.headers["x-ratelimit-total"] == "200"
            assert response.headers["x-ratelimit-remaining"] == "180"
            throttled = http.get("/tickets")
            assert throttled.status_code == 429 and throttled.headers["retry-after"] == "60"
            assert http.get("/groups").status_code == 200  # only the tickets-list budget is spent
            with pytest.raises(FreshdeskRateLimited, match="until 60 seconds"):
                api.tickets.list_tickets(filter_name=None)
            clock.advance(30)
            assert http.get("/tickets").headers["retry-after"] == "30"
            clock.advance(30)
            assert http.get("/tickets").status_code == 200


def test_account_budget_counts_include_credits() -> None:
    clock = ManualClock()
    with start(FreshdeskState(clock=clock), rate_limit=5, clock=clock) as sim:
        ticket = sim.state.create_ticket({"subject": "s", "description": "d", "email": "a@x.test"})
        with httpx.Client(base_url=f"{sim.url}/api/v2", auth=AUTH) as http:
            first = http.get(f"/tickets/{ticket['id']}", params={"include": "conversations,requester,stats"})
            used = first.headers["x-ratelimit-used-currentrequest"], first.headers["x-ratelimit-remaining"]
            assert used == ("4", "1")
            assert http.get("/agents/me").status_code == 200
            refused = http.get("/agents/me")
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
            assert refused.headers["x-ratelimit-used-currentrequest"] == "0"


def test_settings_helpdesk_answers_as_the_verification_endpoint(sim, http) -> None:
    assert http.get("/settings/helpdesk").json()["primary_language"] == "en"
