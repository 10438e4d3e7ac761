"""The Zendesk simulator driven by the real zenpy client and raw HTTP over loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from zenpy import Zenpy
from zenpy.lib.api_objects import Comment, Ticket, User
from zenpy.lib.exception import APIException, RecordNotFoundException, SearchResponseLimitExceeded

from deskhand.sim.base import SimServer, WebhookDelivery
from deskhand.sim.zendesk import DEFAULT_TOKEN, ZendeskSim, start
from deskhand.sim.zendesk_state import ZendeskState

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DESKHAND_SHARED_DIR") or REPO.parent / "shared")
FIXTURES = SHARED / "fixtures" / "zendesk" / "fixture" / "GET"
EMAIL = "agent@acme.test"
AUTH = (f"{EMAIL}/token", DEFAULT_TOKEN)


@pytest.fixture
def sim():
    with start(incremental_lag_s=0, delivery=WebhookDelivery(backoff_s=0.05, max_backoff_s=0.2)) as server:
        yield server


@pytest.fixture
def http(sim: ZendeskSim):
    with httpx.Client(base_url=f"{sim.url}/api/v2", auth=AUTH, timeout=10) as client:
        yield client


def make_zenpy(sim: ZendeskSim, monkeypatch: pytest.MonkeyPatch) -> Zenpy:
    monkeypatch.setenv("ZENPY_FORCE_NETLOC", f"127.0.0.1:{sim.port}")
    monkeypatch.setenv("ZENPY_FORCE_SCHEME", "http")
    return Zenpy(subdomain="sim", email=EMAIL, token=DEFAULT_TOKEN)


@pytest.fixture
def zenpy(sim: ZendeskSim, monkeypatch: pytest.MonkeyPatch) -> Zenpy:
    return make_zenpy(sim, monkeypatch)


def new_ticket(http: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"subject": "Printer on fire", "comment": {"body": "It is smoking."}, **fields}
    response = http.post("/tickets.json", json={"ticket": body})
    assert response.status_code == 201, response.text
    return response.json()["ticket"]


# --------------------------------------------------------------------------------- tickets


def test_zenpy_create_makes_end_user_requester_first_comment_and_description(sim, zenpy) -> None:
    audit = zenpy.tickets.create(Ticket(subject="Refund", comment=Comment(body="Charged twice"),
                                        requester=User(name="Cus Tomer", email="cus@example.com")))
    ticket = zenpy.tickets(id=audit.ticket.id)
    assert (ticket.status, ticket.description, ticket.subject) == ("new", "Charged twice", "Refund")
    requester = zenpy.users(id=ticket.requester_id)
    assert (requester.email, requester.role) == ("cus@example.com", "end-user")
    again = zenpy.tickets.create(Ticket(subject="Again", comment=Comment(body="x"),
                                        requester=User(name="C", email="cus@example.com")))
    assert zenpy.tickets(id=again.ticket.id).requester_id == requester.id  # reused, not duplicated
    comments = list(zenpy.tickets.comments(ticket=ticket.id))
    assert [(c.body, c.public) for c in comments] == [("Charged twice", True)]
    assert zenpy.users.me().email == EMAIL


@pytest.mark.parametrize(("fields", "status"), [
    ({}, "new"),
    ({"assignee_id": "AGENT"}, "open"),
    ({"status": "pending"}, "pending"),
], ids=["unassigned_is_new", "assigned_is_open", "explicit_status_kept"])
def test_create_status_defaults(sim, http, fields, status) -> None:
    if fields.get("assignee_id") == "AGENT":
        fields = {"assignee_id": sim.state.agents[0]["id"]}
    assert new_ticket(http, **fields)["status"] == status


def test_ticket_payload_has_every_field_of_the_real_fixture(sim, http) -> None:
    real = json.loads((FIXTURES / "ticket.json").read_text())["ticket"]
    ours = http.get(f"/tickets/{new_ticket(http)['id']}.json").json()["ticket"]
    assert set(real) <= set(ours)
    assert ours["url"] == f"{sim.url}/api/v2/tickets/{ours['id']}.json"
    for name in ("users", "groups", "organizations"):
        real_keys = set(json.loads((FIXTURES / f"{name}.json").read_text())[name][0])
        assert real_keys <= set(http.get(f"/{name}.json").json()[name][0]), name


def test_zenpy_lists_250_tickets_across_three_cursor_pages(sim, zenpy, http) -> None:
    sim.state.seed_tickets(250, random.Random(7))
    assert len({t.id for t in zenpy.tickets()}) == 250
    first = http.get("/tickets.json", params={"page[size]": 100}).json()
    assert first["meta"]["has_more"] and len(first["tickets"]) == 100
    assert first["links"]["next"].startswith(f"{sim.url}/api/v2/tickets.json?page[size]=100&page[after]=")
    third = httpx.get(httpx.get(first["links"]["next"], auth=AUTH).json()["links"]["next"], auth=AUTH).json()
    assert len(third["tickets"]) == 50 and third["meta"]["has_more"] is False
    back = httpx.get(third["links"]["prev"], auth=AUTH).json()
    assert [t["id"] for t in back["tickets"]] == list(range(101, 201))


def test_offset_pagination_counts_links_and_refuses_beyond_10000_records(sim, http) -> None:
    sim.state.seed_tickets(120, random.Random(1))
    page = http.get("/tickets.json", params={"page": 2, "per_page": 50}).json()
    assert page["count"] == 120 and [t["id"] for t in page["tickets"]] == list(range(51, 101))
    assert page["next_page"] == f"{sim.url}/api/v2/tickets.json?page=3&per_page=50"
    assert page["previous_page"] == f"{sim.url}/api/v2/tickets.json?page=1&per_page=50"
    assert http.get("/tickets.json", params={"page": 101, "per_page": 100}).status_code == 400
    assert http.get("/tickets.json", params={"page": 100, "per_page": 100}).status_code == 200


def test_zenpy_public_reply_and_internal_note_land_as_comments(sim, zenpy, http) -> None:
    tid = new_ticket(http)["id"]
    ticket = zenpy.tickets(id=tid)
    ticket.comment = Comment(body="We are on it", public=True)
    ticket.status = "pending"
    zenpy.tickets.update(ticket)
    ticket = zenpy.tickets(id=tid)
    ticket.comment = Comment(html_body="<p>Customer is <b>VIP</b></p>", public=False)
    zenpy.tickets.update(ticket)
    comments = list(zenpy.tickets.comments(ticket=tid))
    me = zenpy.users.me().id
    assert [(c.body, c.public, c.author_id) for c in comments[1:]] == [
        ("We are on it", True, me), ("Customer is VIP", False, me)]
    assert zenpy.tickets(id=tid).status == "pending"


def test_customer_comment_reopens_a_solved_ticket_but_closed_refuses_updates(sim, http) -> None:
    ticket = new_ticket(http, requester={"name": "C", "email": "c@example.com"}, status="solved")
    reply = {"comment": {"body": "still broken", "author_id": ticket["requester_id"]}}
    assert http.put(f"/tickets/{ticket['id']}.json", json={"ticket": reply}).json()["ticket"]["status"] == "open"
    http.put(f"/tickets/{ticket['id']}", json={"ticket": {"status": "closed"}})
    refused = http.put(f"/tickets/{ticket['id']}", json={"ticket": {"status": "open"}})
    assert refused.status_code == 422 and refused.json()["error"] == "RecordInvalid"
    assert refused.json()["details"]["status"][0]["description"] == "Status: closed prevents ticket update"


@pytest.mark.parametrize(("body", "field"), [
    ({"subject": "no comment"}, "description"),
    ({"comment": {"body": "x"}, "status": "bogus"}, "status"),
    ({"comment": {"body": "x"}, "priority": "meh"}, "priority"),
    ({"comment": {"body": "x"}, "assignee_id": 1}, "assignee"),
], ids=["blank_description", "unknown_status", "unknown_priority", "assignee_not_agent"])
def test_invalid_ticket_is_422_record_invalid_with_details(http, body, field) -> None:
    response = http.post("/tickets.json", json={"ticket": body})
    assert response.status_code == 422
    assert response.json()["error"] == "RecordInvalid" and field in response.json()["details"]


def test_missing_ticket_is_404_record_not_found_for_zenpy(zenpy, http) -> None:
    assert http.get("/tickets/999.json").json() == {"error": "RecordNotFound", "description": "Not found"}
    with pytest.raises(RecordNotFoundException):
        zenpy.tickets(id=999)


def test_tags_endpoints_and_update_tag_operations(sim, zenpy, http) -> None:
    tid = new_ticket(http, tags=["a"])["id"]
    assert list(zenpy.tickets.add_tags(tid, ["b", "C"])) == ["a", "b", "c"]
    assert list(zenpy.tickets.delete_tags(tid, ["a"])) == ["b", "c"]
    assert list(zenpy.tickets.set_tags(tid, ["x"])) == ["x"]
    update = {"additional_tags": ["y", "z"], "remove_tags": ["x"]}
    assert http.put(f"/tickets/{tid}", json={"ticket": update}).json()["ticket"]["tags"] == ["y", "z"]
    assert http.put(f"/tickets/{tid}", json={"ticket": {"tags": ["q"]}}).json()["ticket"]["tags"] == ["q"]
    assert http.get(f"/tickets/{tid}/tags.json").json() == {"tags": ["q"]}


def test_delete_moves_ticket_to_deleted_tickets(sim, http) -> None:
    tid = new_ticket(http)["id"]
    assert http.delete(f"/tickets/{tid}.json").status_code == 204
    assert http.get(f"/tickets/{tid}.json").status_code == 404
    assert [t["id"] for t in http.get("/deleted_tickets.json").json()["deleted_tickets"]] == [tid]


# ---------------------------------------------------------------------------------- search

SEARCH_CASES = [
    ("status", "type:ticket status:open", {"B"}),
    ("status_below_solved", "type:ticket status<solved", {"A", "B", "C"}),
    ("tag", "tags:vip", {"B", "D"}),
    ("negated_tag", "type:ticket -tags:vip", {"A", "C"}),
    ("subject", "subject:refund", {"A"}),
    ("free_text_subject_and_description", "printer smoking", {"C"}),
    ("quoted_phrase", '"charged twice"', {"A"}),
    ("priority", "priority:urgent", {"D"}),
    ("priority_at_least_high", "priority>=high", {"B", "D"}),
    ("requester_email", "requester:cus@example.com", {"A", "D"}),
    ("assignee_none", "assignee:none", {"A", "C", "D"}),
    ("group_name", "group:Billing", {"B"}),
    ("created_today", "created>1hours", {"A", "B", "C", "D"}),
    ("created_long_ago", "created<2000-01-01", set()),
]


@pytest.mark.parametrize(("query", "expected"), [c[1:] for c in SEARCH_CASES], ids=[c[0] for c in SEARCH_CASES])
def test_search_query_terms(sim, http, query, expected) -> None:
    agent, billing = sim.state.agents[0]["id"], sim.state.find_group("billing")[0]
    cus = {"name": "Cus", "email": "cus@example.com"}
    made = {
        "A": new_ticket(http, subject="Refund", comment={"body": "I was charged twice"}, requester=cus),
        "B": new_ticket(http, subject="Login", tags=["vip"], priority="high", assignee_id=agent, group_id=billing),
        "C": new_ticket(http, subject="Printer", comment={"body": "It is smoking badly"}, status="pending"),
        "D": new_ticket(http, subject="Down", tags=["vip"], priority="urgent", status="solved", requester=cus),
    }
    names = {t["id"]: name for name, t in made.items()}
    body = http.get("/search.json", params={"query": query}).json()
    assert {names[r["id"]] for r in body["results"]} == expected
    assert body["count"] == len(expected) and all(r["result_type"] == "ticket" for r in body["results"])


def test_zenpy_search_pages_and_refuses_beyond_1000_results(sim, zenpy, http) -> None:
    sim.state.seed_tickets(150, random.Random(3))
    found = list(zenpy.search(type="ticket", subject="password"))
    expected = {t["id"] for t in sim.state.tickets.values() if "password" in t["subject"].lower()}
    assert {t.id for t in found} == expected
    page = http.get("/search.json", params={"query": "type:ticket", "per_page": 100}).json()
    assert page["count"] == 150 and page["next_page"].endswith("page=2&per_page=100")
    too_far = http.get("/search.json", params={"query": "type:ticket", "page": 11, "per_page": 100})
    assert too_far.status_code == 422 and too_far.json()["error"] == "invalid"
    with pytest.raises(SearchResponseLimitExceeded):  # how zenpy reads that 422
        zenpy.search._get(f"{sim.url}/api/v2/search.json?query=type:ticket&page=11&per_page=100")


# ----------------------------------------------------------------------------- incremental


def test_zenpy_incremental_cursor_export_reaches_end_of_stream_with_deletions(sim, zenpy, http) -> None:
    sim.state.seed_tickets(35, random.Random(5))
    http.delete("/tickets/3.json")
    seen = {t.id: t.status for t in zenpy.tickets.incremental(start_time=0, per_page=10)}
    assert len(seen) == 35 and seen[3] == "deleted"
    first = http.get("/incremental/tickets/cursor.json", params={"start_time": 0, "per_page": 30}).json()
    assert not first["end_of_stream"] and first["after_url"].startswith(f"{sim.url}/api/v2/incremental/")
    last = http.get(first["after_url"]).json()
    assert last["end_of_stream"] and len(last["tickets"]) == 5
    new_ticket(http)
    assert [t["subject"] for t in http.get(last["after_url"]).json()["tickets"]] == ["Printer on fire"]


def test_incremental_exports_hide_changes_younger_than_the_lag() -> None:
    now = [1_700_000_000.0]
    state = ZendeskState(clock=lambda: now[0])
    with start(state, incremental_lag_s=60) as sim, httpx.Client(auth=AUTH) as client:
        url = f"{sim.url}/api/v2/incremental/tickets/cursor.json"
        state.create_ticket({"subject": "s", "comment": {"body": "b"}}, state.admin)
        assert client.get(url, params={"start_time": 0}).json()["tickets"] == []
        now[0] += 61
        assert len(client.get(url, params={"start_time": 0}).json()["tickets"]) == 1
        timed = client.get(f"{sim.url}/api/v2/incremental/tickets.json", params={"start_time": 0}).json()
        assert timed["count"] == 1 and timed["end_time"] == 1_700_000_000 and timed["end_of_stream"]


# ------------------------------------------------------------------------ auth, rate limits

AUTH_CASES = [
    ("basic_token", {"auth": AUTH}, 200),
    ("bearer_token", {"headers": {"Authorization": f"Bearer {DEFAULT_TOKEN}"}}, 200),
    ("wrong_token", {"auth": (f"{EMAIL}/token", "nope")}, 401),
    ("password_not_token", {"auth": (EMAIL, DEFAULT_TOKEN)}, 401),
    ("no_credentials", {}, 401),
]


@pytest.mark.parametrize(("kwargs", "status"), [c[1:] for c in AUTH_CASES], ids=[c[0] for c in AUTH_CASES])
def test_auth(sim, kwargs, status) -> None:
    response = httpx.get(f"{sim.url}/api/v2/tickets.json", timeout=30, **kwargs)
    assert response.status_code == status
    if status == 401:
        assert response.json() == {"error": "Couldn't authenticate you"}


def test_rate_limit_headers_429_body_and_separate_incremental_limit() -> None:
    with start(rate_limit=14, window_s=60) as sim, httpx.Client(auth=AUTH) as client:
        first = client.get(f"{sim.url}/api/v2/tickets.json")
        assert (first.headers["x-rate-limit"], first.headers["x-rate-limit-remaining"]) == ("14", "13")
        assert first.headers["ratelimit-limit"] == "14" and 0 < int(first.headers["ratelimit-reset"]) <= 60
        assert "ratelimit-limit" not in client.get(f"{sim.url}/api/v2/groups.json").headers
        exports = [client.get(f"{sim.url}/api/v2/incremental/tickets/cursor.json?start_time=0") for _ in range(11)]
        assert [r.status_code for r in exports] == [200] * 10 + [429]
        assert "incremental export" in exports[-1].json()["description"]
        last, blocked = (client.get(f"{sim.url}/api/v2/users/me.json") for _ in range(2))
        assert last.status_code == 200 and last.headers["x-rate-limit-remaining"] == "0"
        assert blocked.status_code == 429 and blocked.json()["error"] == "APIRateLimitExceeded"
        assert "API requests" in blocked.json()["description"]
        assert 1 <= int(blocked.headers["retry-after"]) <= 60


def test_zenpy_sleeps_retry_after_then_succeeds(monkeypatch) -> None:
    with start(rate_limit=3, window_s=1.0) as sim:
        zenpy = make_zenpy(sim, monkeypatch)
        begin = time.monotonic()
        names = [zenpy.users.me().email for _ in range(5)]
        assert names == [EMAIL] * 5
        assert time.monotonic() - begin >= 0.9  # at least one Retry-After: 1 was honoured


# -------------------------------------------------------------------------- users, groups


def test_users_roles_search_create_and_groups(sim, http) -> None:
    agents = http.get("/users.json", params=[("role[]", "agent"), ("role[]", "admin")]).json()["users"]
    assert {u["role"] for u in agents} == {"agent", "admin"} and len(agents) >= 4
    created = http.post("/users.json", json={"user": {"name": "Eve", "email": "eve@example.com"}})
    assert created.status_code == 201 and created.json()["user"]["role"] == "end-user"
    duplicate = http.post("/users.json", json={"user": {"name": "Eve", "email": "eve@example.com"}})
    assert duplicate.status_code == 422 and "email" in duplicate.json()["details"]
    assert [u["name"] for u in http.get("/users/search.json", params={"query": "eve@"}).json()["users"]] == ["Eve"]
    groups = [g["name"] for g in http.get("/groups.json").json()["groups"]]
    assert groups == ["Support", "Billing", "Escalations", "Engineering"]


# -------------------------------------------------------------------------------- webhooks


class Receiver:
    """Loopback webhook receiver: the first ``fail_first`` deliveries get a 500."""

    def __init__(self, fail_first: int = 0):
        self.fail_left = fail_first
        self.calls: list[tuple[bytes, dict[str, str], int]] = []
        self.lock = threading.Lock()
        self.app = Starlette(routes=[Route("/hook", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            status = 500 if self.fail_left > 0 else 200
            self.fail_left -= 1
            self.calls.append((body, dict(request.headers), status))
        return Response(status_code=status)

    def delivered(self) -> list[tuple[dict[str, Any], dict[str, str]]]:
        return [(json.loads(b), h) for b, h, s in self.calls if s == 200]


def verify(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    message = headers["x-zendesk-webhook-signature-timestamp"].encode() + body
    expected = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, headers["x-zendesk-webhook-signature"])


def test_webhook_option_delivers_signed_events_and_retries_after_500() -> None:
    receiver = Receiver(fail_first=1)
    delivery = WebhookDelivery(backoff_s=0.05)
    with SimServer(receiver.app) as hook_server, start(webhook_url=f"{hook_server.url}/hook",
                                                       webhook_secret="s3cret", delivery=delivery) as sim:
        http = httpx.Client(base_url=f"{sim.url}/api/v2", auth=AUTH)
        ticket = new_ticket(http)
        http.put(f"/tickets/{ticket['id']}", json={"ticket": {"comment": {"body": "Hi!", "public": True}}})
        assert sim.delivery.drain(10)
    statuses = [s for _, _, s in receiver.calls]
    assert statuses[0] == 500 and statuses.count(200) == 2
    invocation = receiver.calls[0][1]["x-zendesk-webhook-invocation-id"]
    retried = [c for c in receiver.calls[1:] if c[1]["x-zendesk-webhook-invocation-id"] == invocation]
    assert [c[:2] for c in retried] == [receiver.calls[0][:2]]  # re-sent byte-identical, same headers
    delivered = sorted(receiver.delivered(), key=lambda d: d[0]["type"] != "zen:event-type:ticket.created")
    # a retried delivery may arrive after later ones (Zendesk does not promise order either)
    assert [p["type"] for p, _ in delivered] == ["zen:event-type:ticket.created", "zen:event-type:ticket.comment_added"]
    for payload, headers in delivered:
        body = next(b for b, h, s in receiver.calls if s == 200 and json.loads(b) == payload)
        assert verify("s3cret", body, headers)
        assert headers["user-agent"] == "Zendesk Webhook" and headers["content-type"] == "application/json"
        assert time.strptime(headers["x-zendesk-webhook-signature-timestamp"], "%Y-%m-%dT%H:%M:%SZ")
        assert payload["subject"] == f"zen:ticket:{ticket['id']}" and payload["detail"]["id"] == str(ticket["id"])
        assert payload["zendesk_event_version"] and payload["account_id"] == sim.state.account_id
    comment = delivered[1][0]["event"]["comment"]
    me = sim.state.user_by_email(EMAIL)
    assert comment["body"] == "Hi!" and comment["is_public"] is True
    assert comment["author"] == {"id": str(me["id"]), "is_staff": True, "name": me["name"]}
    assert delivered[0][0]["detail"]["status"] == "NEW"


def test_webhooks_api_registers_subscription_and_exposes_signing_secret(sim, http) -> None:
    receiver = Receiver()
    with SimServer(receiver.app) as hook_server:
        created = http.post("/webhooks", json={"webhook": {
            "name": "deskhand", "endpoint": f"{hook_server.url}/hook", "http_method": "POST",
            "request_format": "json", "status": "active",
            "subscriptions": ["zen:event-type:ticket.status_changed"]}})
        assert created.status_code == 201
        hook = created.json()["webhook"]
        secret = http.get(f"/webhooks/{hook['id']}/signing_secret").json()["signing_secret"]
        assert secret["algorithm"] == "SHA256"
        ticket = new_ticket(http)
        http.put(f"/tickets/{ticket['id']}", json={"ticket": {"status": "solved"}})
        assert sim.delivery.drain(10)
        [(payload, headers)] = receiver.delivered()
        assert payload["type"] == "zen:event-type:ticket.status_changed"
        assert payload["event"]["current"] == "SOLVED" and payload["event"]["previous"] == "NEW"
        assert headers["x-zendesk-webhook-id"] == hook["id"]
        assert verify(secret["secret"], receiver.calls[0][0], headers)
        assert [h["id"] for h in http.get("/webhooks").json()["webhooks"]] == [hook["id"]]
        assert http.delete(f"/webhooks/{hook['id']}").status_code == 204
        assert http.get(f"/webhooks/{hook['id']}").status_code == 404


def test_api_call_does_not_wait_for_a_slow_webhook_receiver() -> None:
    gate = threading.Event()

    async def slow(request: Request) -> Response:
        import asyncio

        while not gate.is_set():
            await asyncio.sleep(0.01)
        return Response(status_code=200)

    app = Starlette(routes=[Route("/hook", slow, methods=["POST"])])
    with SimServer(app) as hook_server, start(webhook_url=f"{hook_server.url}/hook") as sim:
        begin = time.monotonic()
        new_ticket(httpx.Client(base_url=f"{sim.url}/api/v2", auth=AUTH))
        assert time.monotonic() - begin < 1.0
        gate.set()
        assert sim.delivery.drain(10)


def test_unknown_requests_raise_api_exception_in_zenpy(zenpy) -> None:
    with pytest.raises(APIException):
        zenpy.tickets.update(Ticket(id=12345, status="open"))
