"""Zendesk as data: real captured payloads (shared/fixtures/zendesk) → the unified model; request shapes."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from deskhand.model import Action, ActionKind, Priority, Role, Status, Visibility
from deskhand.providers import Connector, open_connector

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DESKHAND_SHARED_DIR") or REPO.parent / "shared")
GET = SHARED / "fixtures" / "zendesk" / "fixture" / "GET"
ROUTES = {
    "/api/v2/tickets/2.json": "ticket.json",
    "/api/v2/tickets.json": "tickets.json",
    "/api/v2/tickets/2/comments.json": "ticket_comments.json",
    "/api/v2/users.json": "users.json",
    "/api/v2/users/377922500012.json": "user.json",  # the requester's record (its name, for a greeting)
    "/api/v2/groups.json": "groups.json",
}
CONFIG = {"subdomain": "d3v", "email": "agent@example.com", "api_token": "tok"}


def fixture_connector(sent: list[httpx.Request] | None = None, reply: dict[str, Any] | None = None) -> Connector:
    def handler(request: httpx.Request) -> httpx.Response:
        if sent is not None:
            sent.append(request)
        if request.method != "GET":
            return httpx.Response(200, json=reply or {})
        return httpx.Response(200, content=(GET / ROUTES[request.url.path]).read_bytes())

    return open_connector("zendesk", "acme", CONFIG, http=httpx.Client(transport=httpx.MockTransport(handler)))


def test_ticket_fixture_normalises() -> None:
    sent: list[httpx.Request] = []
    ticket = fixture_connector(sent).get_ticket("2")
    assert str(sent[0].url).startswith("https://d3v.zendesk.com/api/v2/tickets/2.json")
    assert ticket.id == "2"
    assert ticket.subject == "Mail to create fixture ticket for testing"
    assert ticket.description == "Mail to create fixture ticket for testing\n\nnukosuke (●ↀ ω ↀ●)"
    assert (ticket.status, ticket.raw_status, ticket.priority) == (Status.SOLVED, "solved", None)
    assert ticket.requester is not None
    assert (ticket.requester.id, ticket.requester.organization_id) == ("377922500012", "360363695492")
    assert ticket.requester.name == "Sample customer"  # the ticket has only requester_id: read from the user
    assert [r.url.path for r in sent].count("/api/v2/users/377922500012.json") == 1
    assert (ticket.assignee_id, ticket.team_id, ticket.tags) == ("377922500012", "360004077472", ())
    assert ticket.created_at == datetime(2019, 6, 3, 2, 23, 47, tzinfo=UTC)
    assert ticket.updated_at == datetime(2019, 6, 5, 1, 13, 24, tzinfo=UTC)
    assert ticket.url == "https://d3v.zendesk.com/agent/tickets/2"
    assert ticket.raw["brand_id"] == 360002256672


def test_comments_fixture_normalises_with_visibility() -> None:
    comments = fixture_connector().get_ticket("2").comments
    assert [c.id for c in comments] == ["2", "3"]
    assert all(c.ticket_id == "2" and c.visibility is Visibility.PUBLIC for c in comments)
    assert comments[0].body == "Mail to create fixture ticket for testing"
    assert comments[0].author_id == "377922500012"
    assert comments[0].created_at == datetime(2019, 6, 3, 1, 23, 47, tzinfo=UTC)


def test_tickets_list_fixture_normalises() -> None:
    tickets = list(fixture_connector().iter_tickets())
    assert [(t.id, t.subject, t.description, t.status) for t in tickets] == [
        (
            "2",
            "Mail to create fixture ticket for testing",
            "Mail to create fixture ticket for testing\n\nnukosuke (●ↀ ω ↀ●)",
            Status.SOLVED,
        ),
        ("3", "にゃー", "ぬこすけ", Status.SOLVED),
    ]


def test_users_and_groups_fixtures_normalise() -> None:
    zd = fixture_connector()
    users = zd.list_users()
    assert [(u.id, u.name, u.email, u.role) for u in users] == [
        ("369531345753", "Sample customer", "customer@example.com", Role.END_USER),
        ("369537351454", "nukosuke", "nukosuke@lavabit.com", Role.ADMIN),
    ]
    [team] = zd.list_teams()
    assert (team.id, team.name) == ("360002440594", "Support")


@pytest.mark.parametrize(
    ("action", "method", "path", "body"),
    [
        (
            Action(ActionKind.REPLY, "7", "k", {"body": "Hi"}),
            "PUT",
            "/api/v2/tickets/7.json",
            {"ticket": {"comment": {"body": "Hi", "public": True}}},
        ),
        (
            Action(ActionKind.NOTE, "7", "k", {"body": "FYI"}),
            "PUT",
            "/api/v2/tickets/7.json",
            {"ticket": {"comment": {"body": "FYI", "public": False}}},
        ),
        (
            Action(ActionKind.SET_STATUS, "7", "k", {"status": Status.ON_HOLD}),
            "PUT",
            "/api/v2/tickets/7.json",
            {"ticket": {"status": "hold"}},
        ),
        (
            Action(ActionKind.ADD_TAGS, "7", "k", {"tags": ("a", "b")}),
            "PUT",
            "/api/v2/tickets/7/tags.json",
            {"tags": ["a", "b"]},
        ),
        (
            Action(ActionKind.ASSIGN, "7", "k", {"team_id": "360004077472"}),
            "PUT",
            "/api/v2/tickets/7.json",
            {"ticket": {"group_id": 360004077472}},
        ),
        (
            Action(ActionKind.SET_PRIORITY, "7", "k", {"priority": Priority.LOW}),
            "PUT",
            "/api/v2/tickets/7.json",
            {"ticket": {"priority": "low"}},
        ),
    ],
    ids=["reply", "note", "status-on-hold-is-hold", "add-tags", "assign-team-only", "priority"],
)
def test_actions_send_zendesk_requests(action: Action, method: str, path: str, body: dict[str, Any]) -> None:
    sent: list[httpx.Request] = []
    fixture_connector(sent).perform(action)
    assert (sent[0].method, sent[0].url.path, json.loads(sent[0].content)) == (method, path, body)


def test_reply_summary_reads_the_comment_id_from_the_audit() -> None:
    audit = {"ticket": {"id": 7}, "audit": {"events": [{"type": "Change", "id": 1}, {"type": "Comment", "id": 99}]}}
    summary = fixture_connector(reply=audit).perform(Action(ActionKind.REPLY, "7", "k", {"body": "Hi"}))
    assert summary == {"action": "reply", "ticket_id": "7", "status_code": 200, "comment_id": 99}


@pytest.mark.parametrize(
    ("params", "match"), [({}, "missing argument body"), ({"status": "paused"}, "paused")], ids=["no-body", "bad"]
)
def test_bad_action_params_are_refused_before_any_request(params: dict[str, Any], match: str) -> None:
    sent: list[httpx.Request] = []
    kind = ActionKind.REPLY if not params else ActionKind.SET_STATUS
    with pytest.raises(ValueError, match=match):
        fixture_connector(sent).perform(Action(kind, "7", "k", params))
    assert sent == []


def test_escalate_is_not_a_zendesk_action() -> None:
    from deskhand.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot escalate"):
        fixture_connector().perform(Action(ActionKind.ESCALATE, "7", "k"))


def test_the_requester_name_is_looked_up_once_and_a_failing_lookup_only_loses_the_greeting() -> None:
    sent: list[httpx.Request] = []
    conn = fixture_connector(sent)
    conn.get_ticket("2")
    conn.get_ticket("2")
    assert [r.url.path for r in sent].count("/api/v2/users/377922500012.json") == 1

    def failing(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/v2/users/"):
            return httpx.Response(404, json={"error": "RecordNotFound"})
        return httpx.Response(200, content=(GET / ROUTES[request.url.path]).read_bytes())

    broken = open_connector("zendesk", "acme", CONFIG, http=httpx.Client(transport=httpx.MockTransport(failing)))
    ticket = broken.get_ticket("2")
    assert ticket.requester is not None and ticket.requester.name is None and ticket.subject
