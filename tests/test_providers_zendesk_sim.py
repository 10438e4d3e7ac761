"""The Zendesk connector against the Zendesk simulator over loopback HTTP (real requests, real webhooks)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from deskhand.errors import ResourceNotFound, SignatureError
from deskhand.model import Action, ActionKind, EventKind, Priority, Role, Status, Ticket, Visibility
from deskhand.providers import Connector, open_connector
from deskhand.sim.base import ManualClock
from deskhand.sim.zendesk import start
from deskhand.testing.receiver import WebhookReceiver

TOKEN = "deskhand-sim-token"
SECRET = "whsec-test-secret"
EMAIL = "admin@deskhand.test"


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver("/hooks/zendesk")
    yield r
    r.close()


@pytest.fixture(scope="module")
def sim(receiver: WebhookReceiver) -> Iterator[object]:
    server = start(token=TOKEN, webhook_url=receiver.url, webhook_secret=SECRET, port=0)
    yield server
    server.stop()


def config(url: str, **extra: str) -> dict[str, str]:
    return {"subdomain": "sim", "email": EMAIL, "api_token": TOKEN, "base_url": url, "webhook_secret": SECRET, **extra}


@pytest.fixture
def requests_seen() -> list[httpx.Request]:
    return []


@pytest.fixture
def zd(sim: object, requests_seen: list[httpx.Request]) -> Iterator[Connector]:
    http = httpx.Client(timeout=10, event_hooks={"request": [requests_seen.append]})
    connector = open_connector("zendesk", "acme", config(sim.url), http=http)  # type: ignore[attr-defined]
    yield connector
    http.close()


def new_ticket(zd: Connector, subject: str = "Printer on fire", **kw: Any) -> Ticket:
    return zd.create_ticket(
        subject=subject,
        body=f"{subject}: please help",
        requester_name="Ann Customer",
        requester_email="ann@example.test",
        **kw,
    )


def test_create_then_get_reads_back_every_field(zd: Connector) -> None:
    created = new_ticket(zd, tags=["vip", "printer"], priority=Priority.HIGH)
    got = zd.get_ticket(created.id)
    assert got.id == created.id and got.subject == "Printer on fire"
    assert got.description == "Printer on fire: please help"
    assert got.status is Status.NEW and got.raw_status == "new"
    assert got.priority is Priority.HIGH and set(got.tags) == {"vip", "printer"}
    assert got.requester is not None and got.requester.id
    assert [c.body for c in got.comments] == ["Printer on fire: please help"]
    assert got.comments[0].visibility is Visibility.PUBLIC and got.comments[0].ticket_id == got.id
    assert got.url == f"{zd.values['root']}/agent/tickets/{got.id}"
    assert got.created_at is not None and got.created_at.tzinfo is not None


def test_iter_tickets_follows_cursor_links_across_pages(
    zd: Connector, sim: object, requests_seen: list[httpx.Request]
) -> None:
    for n in range(5):
        new_ticket(zd, subject=f"Paged {n}")
    requests_seen.clear()
    ids = [t.id for t in zd.iter_tickets(page_size=2)]
    state_ids = sorted(str(t) for t in sim.state.tickets)  # type: ignore[attr-defined]
    assert sorted(ids) == state_ids and len(ids) == len(set(ids)) >= 5
    pages = [r for r in requests_seen if r.url.path.startswith("/api/v2/tickets")]
    assert len(pages) >= 3
    assert "page%5Bafter%5D" in str(pages[1].url) or "page[after]" in str(pages[1].url)


@pytest.mark.parametrize(
    ("kind", "visibility"),
    [(ActionKind.REPLY, Visibility.PUBLIC), (ActionKind.NOTE, Visibility.INTERNAL)],
    ids=["reply-public", "note-internal"],
)
def test_reply_and_note_land_with_their_visibility(zd: Connector, kind: ActionKind, visibility: Visibility) -> None:
    ticket = new_ticket(zd)
    summary = zd.perform(Action(kind, ticket.id, key="k1", params={"body": f"{kind.value} text"}))
    assert summary["status_code"] == 200 and summary["comment_id"]
    comments = zd.list_comments(ticket.id)
    last = comments[-1]
    assert (last.body, last.visibility, last.id) == (f"{kind.value} text", visibility, str(summary["comment_id"]))
    assert last.author_id == zd.current_user().id


@pytest.mark.parametrize(
    ("status", "raw"),
    [
        (Status.OPEN, "open"),
        (Status.PENDING, "pending"),
        (Status.ON_HOLD, "hold"),
        (Status.SOLVED, "solved"),
        (Status.CLOSED, "closed"),
        (Status.NEW, "new"),
    ],
    ids=["open", "pending", "on_hold", "solved", "closed", "new"],
)
def test_every_status_is_set_and_read_back(zd: Connector, status: Status, raw: str) -> None:
    ticket = new_ticket(zd)
    if status is Status.NEW:
        zd.perform(Action(ActionKind.SET_STATUS, ticket.id, key="s0", params={"status": "open"}))
    summary = zd.perform(Action(ActionKind.SET_STATUS, ticket.id, key="s", params={"status": status}))
    assert summary["status"] == raw
    got = zd.get_ticket(ticket.id, with_comments=False)
    assert (got.status, got.raw_status, got.comments) == (status, raw, ())


def test_add_tags_keeps_existing_ones(zd: Connector) -> None:
    ticket = new_ticket(zd, tags=["printer"])
    zd.perform(Action(ActionKind.ADD_TAGS, ticket.id, key="t", params={"tags": ["auto_replied", "billing"]}))
    assert set(zd.get_ticket(ticket.id).tags) == {"printer", "auto_replied", "billing"}


def test_assign_to_team_and_agent_and_set_priority(zd: Connector) -> None:
    ticket = new_ticket(zd)
    team = next(t for t in zd.list_teams() if t.name)
    agent = next(u for u in zd.list_users() if u.role is Role.AGENT)
    zd.perform(Action(ActionKind.ASSIGN, ticket.id, key="a", params={"team_id": team.id, "user_id": agent.id}))
    zd.perform(Action(ActionKind.SET_PRIORITY, ticket.id, key="p", params={"priority": Priority.URGENT}))
    got = zd.get_ticket(ticket.id)
    assert (got.team_id, got.assignee_id, got.priority) == (team.id, agent.id, Priority.URGENT)
    zd.perform(Action(ActionKind.ASSIGN, ticket.id, key="a2", params={"team_id": team.id}))
    assert zd.get_ticket(ticket.id).assignee_id == agent.id  # assigning a team alone leaves the agent


def test_current_user_is_the_api_user(zd: Connector) -> None:
    me = zd.current_user()
    assert me.email == EMAIL and me.role is Role.ADMIN


def test_missing_ticket_is_resource_not_found(zd: Connector) -> None:
    with pytest.raises(ResourceNotFound):
        zd.get_ticket("999999")


def test_rate_limit_retry_after_is_obeyed_then_succeeds() -> None:
    clock = ManualClock(start=1_700_000_000.0)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)

    server = start(token=TOKEN, rate_limit=2, window_s=60, clock=clock, port=0)
    try:
        with open_connector("zendesk", "acme", config(server.url), sleep=sleep) as zd:
            zd.list_teams()
            clock.advance(15)
            zd.list_users()
            teams = zd.list_teams()  # third request in the window: 429, Retry-After 45, then success
        assert teams and sleeps == [45.0]
    finally:
        server.stop()


def test_webhooks_verify_and_normalise(zd: Connector, sim: object, receiver: WebhookReceiver) -> None:
    receiver.deliveries.clear()
    ticket = new_ticket(zd, subject="Webhook please")
    summary = zd.perform(Action(ActionKind.REPLY, ticket.id, key="r", params={"body": "on it"}))
    assert sim.delivery.drain(10)  # type: ignore[attr-defined]
    events = []
    for headers, body in receiver.deliveries:
        zd.verify_webhook(headers, body)
        events.extend(e for e in zd.parse_webhook(headers, body) if e.ticket_id == ticket.id)
    kinds = [e.kind for e in events]
    assert EventKind.TICKET_CREATED in kinds and EventKind.COMMENT_ADDED in kinds
    comment = next(e for e in events if e.kind is EventKind.COMMENT_ADDED)
    assert comment.comment_id == str(summary["comment_id"]) and comment.author_id == zd.current_user().id
    assert all(e.provider == "zendesk" and e.account == "acme" and e.delivery_id for e in events)
    assert len({e.delivery_id for e in events}) == len(events)
    assert all(e.occurred_at is not None and e.occurred_at <= datetime.now(UTC) for e in events)

    headers, body = receiver.deliveries[0]
    assert (
        zd.parse_webhook(headers, body)[0].delivery_id
        == zd.parse_webhook({**headers, "X-Zendesk-Webhook-Invocation-Id": "other"}, body)[0].delivery_id
    )
    with pytest.raises(SignatureError):
        zd.verify_webhook(headers, body.replace(b"Webhook please", b"Webhook pleaze"))
    wrong = open_connector("zendesk", "acme", config(zd.values["root"], webhook_secret="not-it"))
    with wrong, pytest.raises(SignatureError):
        wrong.verify_webhook(headers, body)
