"""Freshdesk as data (defs/freshdesk.yaml + hooks/freshdesk.py) against the simulator over loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from deskhand.errors import AuthError, BadResponse, ConfigError, PayloadError, ProviderError
from deskhand.model import Action, ActionKind, Priority, Status, Visibility
from deskhand.providers import Connector, open_connector, records
from deskhand.sim.base import ManualClock, SimServer
from deskhand.sim.freshdesk import DEFAULT_API_KEY, FreshdeskSim, start
from deskhand.sim.freshdesk_state import FreshdeskState
from deskhand.sync.feeds import pages


def config(url: str, **extra: str) -> dict[str, str]:
    return {"domain": "sim", "api_key": DEFAULT_API_KEY, "base_url": url, **extra}


@pytest.fixture
def sim() -> Iterator[FreshdeskSim]:
    with start(rate_limit=10**6) as server:
        yield server


@pytest.fixture
def sent() -> list[httpx.Request]:
    return []


@pytest.fixture
def conn(sim: FreshdeskSim, sent: list[httpx.Request]) -> Iterator[Connector]:
    http = httpx.Client(timeout=10, event_hooks={"request": [sent.append]})
    with open_connector("freshdesk", "acme", config(sim.url), http=http) as connector:
        yield connector
    http.close()


def act(conn: Connector, kind: ActionKind, ticket_id: str, **params: Any) -> dict[str, Any]:
    return conn.perform(Action(kind, ticket_id, key=f"t:{kind.value}", params=params))


def new(conn: Connector, **kw: Any) -> str:
    return conn.create_ticket(subject="VPN down", body="It drops every hour", requester_name="Ann",
                              requester_email="ann@example.test", **kw).id


def test_created_ticket_arrives_open_with_its_fields(conn: Connector, sim: FreshdeskSim) -> None:
    tid = new(conn, tags=["vpn"], priority=Priority.HIGH)
    ticket = conn.get_ticket(tid)
    read = (ticket.status, ticket.raw_status, ticket.priority, ticket.tags)
    assert read == (Status.OPEN, "2", Priority.HIGH, ("vpn",))
    assert ticket.description == "It drops every hour" and ticket.url == f"{sim.url}/a/tickets/{tid}"
    held = sim.state.tickets[int(tid)]
    assert ticket.requester is not None and ticket.requester.id == str(held["requester_id"])
    assert sim.state.people.contacts[held["requester_id"]]["name"] == "Ann"


def test_a_ticket_without_requester_is_the_api_agents(conn: Connector, sim: FreshdeskSim) -> None:
    tid = conn.create_ticket(subject="Internal task", body="Renew the certificate").id
    assert sim.state.tickets[int(tid)]["requester_id"] == sim.state.admin["id"]


@pytest.mark.parametrize(("status", "raw"), [
    (Status.PENDING, "3"), (Status.ON_HOLD, "7"), (Status.SOLVED, "4"), (Status.CLOSED, "5"), (Status.OPEN, "2"),
], ids=["pending", "on_hold", "solved", "closed", "open"])
def test_unified_statuses_are_set_as_freshdesk_numbers(conn: Connector, status: Status, raw: str) -> None:
    tid = new(conn)
    assert str(act(conn, ActionKind.SET_STATUS, tid, status=status)["status"]) == raw
    got = conn.get_ticket(tid, with_comments=False)
    assert (got.raw_status, got.status) == (raw, status)


def test_new_cannot_be_set_and_nothing_is_sent(conn: Connector, sent: list[httpx.Request]) -> None:
    tid = new(conn)
    sent.clear()
    with pytest.raises(ValueError, match=r"status .*new.* is not one of"):
        act(conn, ActionKind.SET_STATUS, tid, status=Status.NEW)
    assert sent == []


@pytest.mark.parametrize(("raw", "extra", "expected"), [
    ({"status": 6}, {}, Status.PENDING),
    ({"status": 2}, {}, Status.OPEN),
    ({"status": 9}, {"status_map": "9=on_hold"}, Status.ON_HOLD),
    ({"status": 3}, {"status_map": "3=on_hold"}, Status.ON_HOLD),
], ids=["waiting_on_customer", "open", "custom_status_mapped", "account_override"])
def test_status_reading(raw: dict[str, Any], extra: dict[str, str], expected: Status) -> None:
    with open_connector("freshdesk", "acme", config("https://x.example", **extra)) as conn:
        record = {"id": 1, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"} | raw
        assert records.read_ticket(conn.readers["ticket"], record, url_values=conn.values).status is expected


def test_unknown_custom_status_is_a_clear_error_naming_status_map() -> None:
    with open_connector("freshdesk", "acme", config("https://x.example")) as conn, \
            pytest.raises(PayloadError, match=r"status '?9'? has no mapping; map it for this account: deskhand "
                                              r"connect freshdesk --name <account> --update --status-map \"9=open\""):
        records.read_ticket(conn.readers["ticket"], {"id": 1, "status": 9}, url_values=conn.values)
    with pytest.raises(ConfigError, match="status_map"):
        open_connector("freshdesk", "acme", config("https://x.example", status_map="9=waiting"))


@pytest.mark.parametrize(("kind", "visibility"), [(ActionKind.REPLY, Visibility.PUBLIC),
                                                  (ActionKind.NOTE, Visibility.INTERNAL)], ids=["reply", "note"])
def test_reply_is_public_and_note_is_private(conn: Connector, sim: FreshdeskSim, kind: ActionKind,
                                             visibility: Visibility) -> None:
    tid = new(conn)
    summary = act(conn, kind, tid, body="Try reconnecting")
    [comment] = conn.list_comments(tid)
    read = (comment.id, comment.body, comment.visibility)
    assert read == (str(summary["comment_id"]), "Try reconnecting", visibility)
    assert comment.author_id == conn.current_user().id == str(sim.state.admin["id"])
    assert sim.state.conversations[int(tid)][0]["source"] == (0 if kind is ActionKind.REPLY else 2)


def test_add_tags_keeps_the_other_tags(conn: Connector, sim: FreshdeskSim) -> None:
    tid = new(conn, tags=["vpn", "Billing"])
    summary = act(conn, ActionKind.ADD_TAGS, tid, tags=["auto_replied", "billing"])
    assert summary["tags"] == ["vpn", "Billing", "auto_replied"]
    assert sim.state.tickets[int(tid)]["tags"] == ["vpn", "Billing", "auto_replied"]


def test_assign_and_priority_write_responder_group_and_number(conn: Connector, sim: FreshdeskSim) -> None:
    tid = new(conn)
    agent = sim.state.people.staff[0]["id"]
    team = next(t for t in conn.list_teams() if t.name == "Escalations")
    act(conn, ActionKind.ASSIGN, tid, user_id=str(agent), team_id=team.id)
    act(conn, ActionKind.SET_PRIORITY, tid, priority=Priority.URGENT)
    got = conn.get_ticket(tid)
    assert (got.assignee_id, got.team_id, got.priority) == (str(agent), team.id, Priority.URGENT)
    assert sim.state.tickets[int(tid)]["priority"] == 4


def test_listing_follows_link_headers_over_every_ticket(conn: Connector, sim: FreshdeskSim,
                                                        sent: list[httpx.Request]) -> None:
    sim.state.seed_tickets(7, days=200)  # older than 30 days too: the listing asks updated_since
    sent.clear()
    assert {t.id for t in conn.iter_tickets(page_size=3)} == {str(t) for t in sim.state.tickets}
    assert len(sent) == 3 and sent[1].url.params["page"] == "2"


def test_directory_is_agents_and_groups(conn: Connector, sim: FreshdeskSim) -> None:
    users = conn.list_users()
    assert {u.email for u in users} >= {"admin@deskhand.test", "alex@deskhand.test"}
    assert conn.current_user().email == "admin@deskhand.test"
    assert {t.name for t in conn.list_teams()} == {"Support", "Billing", "Escalations", "Engineering"}


# ------------------------------------------------------------------------------ the sync feed


def feed_ids(conn: Connector) -> tuple[list[str], list[str]]:
    assert conn.definition.sync is not None
    live: list[str] = []
    deleted: list[str] = []
    for page in pages(conn, conn.definition.sync.feed, None):
        for record in page.records:
            (deleted if record.get("deleted") else live).append(str(record["id"]))
        if page.done:
            break
    return live, deleted


def test_feed_reads_every_ticket_even_when_hundreds_share_a_second() -> None:
    clock = ManualClock(1_800_000_000.0)
    state = FreshdeskState(clock=clock)
    with start(state, rate_limit=10**6, clock=clock) as sim, \
            open_connector("freshdesk", "acme", config(sim.url)) as conn:
        for i in range(250):
            state.create_ticket({"subject": f"t{i}", "description": "d", "email": "a@x.test"})
        clock.advance(5)
        sim.state.delete_ticket(7)
        live, deleted = feed_ids(conn)
    assert set(live) == {str(i) for i in range(1, 251)} - {"7"}
    assert set(deleted) == {"7"}


def test_feed_pages_move_forward_through_seeded_history(sim: FreshdeskSim, conn: Connector) -> None:
    sim.state.seed_tickets(230, days=120)
    live, deleted = feed_ids(conn)
    assert set(live) == {str(t) for t in sim.state.tickets} and deleted == []


# -------------------------------------------------------------------------------- bad input


def test_wrong_api_key_is_an_auth_error_naming_the_answer(sim: FreshdeskSim) -> None:
    with open_connector("freshdesk", "acme", config(sim.url, api_key="wrong")) as conn, \
            pytest.raises(AuthError, match=r"401.*invalid_credentials"):
        conn.current_user()


def test_wrong_site_answering_html_is_a_bad_response() -> None:
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    async def page(request: Any) -> HTMLResponse:
        return HTMLResponse("<html>Welcome to our shop</html>")

    with SimServer(Starlette(routes=[Route("/{path:path}", page)])) as other, \
            open_connector("freshdesk", "acme", config(other.url)) as conn, \
            pytest.raises(BadResponse, match="not JSON"):
        conn.current_user()


def test_helpdesk_down_is_a_provider_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open_connector("freshdesk", "acme", config(f"http://127.0.0.1:{port}"),
                        sleep=lambda s: None) as conn, pytest.raises(ProviderError, match="cannot connect"):
        conn.get_ticket("1")


@pytest.mark.parametrize("domain", ["Acme Corp", "acme.freshdesk.com", ""], ids=["spaces", "full_host", "empty"])
def test_bad_domain_is_refused_before_any_request(domain: str) -> None:
    with pytest.raises(ConfigError, match="domain"):
        open_connector("freshdesk", "acme", {"domain": domain, "api_key": "k"})


def test_a_validation_failure_is_a_permanent_error_with_freshdesks_message(conn: Connector) -> None:
    tid = new(conn)
    with pytest.raises(ProviderError, match="invalid_value: There is no agent matching") as caught:
        act(conn, ActionKind.ASSIGN, tid, user_id="12345")
    assert (caught.value.status, caught.value.retryable, caught.value.code) == (400, False, "invalid_value")


# a list row in the shape of a real capture (keys and value kinds of airbytehq/airbyte source-freshdesk
# unit_tests/resource/http/response/tickets.json; the values here are made up)
REAL_SHAPED_ROW = {
    "cc_emails": [], "fwd_emails": [], "reply_cc_emails": [], "ticket_cc_emails": [], "ticket_bcc_emails": [],
    "fr_escalated": False, "spam": False, "email_config_id": 67000000001, "group_id": None, "priority": 1,
    "requester_id": 67000000002, "responder_id": 67000000003, "source": 10, "company_id": 67000000004, "status": 5,
    "subject": "Test", "association_type": None, "support_email": "support@example.freshdesk.com",
    "to_emails": ["support@example.freshdesk.com"], "product_id": None, "id": 21, "type": None,
    "due_by": "2022-11-19T15:59:28Z", "fr_due_by": "2022-11-17T15:59:28Z", "is_escalated": False, "custom_fields": {},
    "created_at": "2022-11-16T15:59:28Z", "updated_at": "2022-11-16T15:59:28Z", "associated_tickets_count": None,
    "tags": [], "description": '<div style="font-size: 14px"><div dir="ltr">Test</div></div>',
    "description_text": "Test", "structured_description": None, "nr_due_by": None, "nr_escalated": False,
    "requester": {"id": 67000000002, "name": "Ann Example", "email": "ann@example.test", "mobile": None, "phone": None},
    "stats": {"agent_responded_at": None, "requester_responded_at": None, "first_responded_at": None,
              "status_updated_at": "2022-11-16T15:59:28Z", "reopened_at": None,
              "resolved_at": "2022-11-16T15:59:28Z", "closed_at": "2022-11-16T15:59:28Z", "pending_since": None},
}


def test_a_row_shaped_like_a_real_capture_normalises() -> None:
    from datetime import UTC, datetime

    with open_connector("freshdesk", "acme", config("")) as conn:
        ticket = records.read_ticket(conn.readers["ticket"], REAL_SHAPED_ROW, url_values=conn.values)
    assert (ticket.id, ticket.subject, ticket.description) == ("21", "Test", "Test")
    assert (ticket.status, ticket.raw_status, ticket.priority) == (Status.CLOSED, "5", Priority.LOW)
    assert (ticket.assignee_id, ticket.team_id, ticket.tags) == ("67000000003", None, ())
    assert ticket.requester is not None and (ticket.requester.id, ticket.requester.organization_id) == (
        "67000000002", "67000000004")
    assert ticket.created_at == datetime(2022, 11, 16, 15, 59, 28, tzinfo=UTC)
    assert ticket.url == "https://sim.freshdesk.com/a/tickets/21"


# ------------------------------------------------------------------------- deskhand connect


@pytest.mark.parametrize(("override", "message"), [
    ({}, "connected freshdesk account help"),
    ({"--api-key": "wrong"}, "401"),
    ({"--domain": "Acme Corp"}, "does not match"),
    ({"--base-url": "http://127.0.0.1:9"}, "cannot connect"),
    ({"--status-map": "9=waiting"}, "status_map"),
], ids=["connected", "wrong_key", "bad_domain", "helpdesk_down", "bad_status_map"])
def test_connect_checks_the_helpdesk_and_stores_only_a_working_account(
        sim: FreshdeskSim, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, override: dict[str, str],
        message: str) -> None:
    import json

    from cryptography.fernet import Fernet
    from typer.testing import CliRunner

    from deskhand.cli import app

    monkeypatch.setenv("DESKHAND_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("DESKHAND_SECRET_KEY", Fernet.generate_key().decode())
    values = {"--domain": "acme", "--api-key": DEFAULT_API_KEY, "--webhook-secret": "shh", "--base-url": sim.url,
              **override}
    runner = CliRunner()
    result = runner.invoke(app, ["connect", "freshdesk", "--name", "help", *[x for kv in values.items() for x in kv]])
    assert message in result.output, result.output
    accounts = json.loads(runner.invoke(app, ["accounts", "list", "--json"]).stdout)["accounts"]
    assert (result.exit_code, len(accounts)) == ((0, 1) if not override else (2, 0))
    assert DEFAULT_API_KEY not in runner.invoke(app, ["accounts", "list", "--json"]).stdout


@pytest.mark.parametrize("text", [
    "Hi,\n\nThanks for writing.\n\n1. Open settings\n2. Click <Reset>\n\nBest, Sam",
    "One line & an ampersand",
], ids=["paragraphs_and_lines", "escaped"])
def test_bodies_are_sent_as_html_and_read_back_as_the_same_text(conn: Connector, sim: FreshdeskSim, text: str) -> None:
    tid = new(conn)
    act(conn, ActionKind.REPLY, tid, body=text)
    held = sim.state.conversations[int(tid)][-1]
    assert "<p>" in held["body"] and "<Reset>" not in held["body"]
    assert conn.list_comments(tid)[-1].body == text


def test_the_growth_plans_tickets_list_budget_is_waited_out_while_the_account_has_room() -> None:
    """Freshdesk's per-endpoint budgets (Growth: 20 ticket lists a minute) are not announced in headers:
    the 21st page is a 429 while X-RateLimit-Remaining still shows room; its Retry-After is honoured."""
    clock = ManualClock(1_800_000_000.0)
    state = FreshdeskState(clock=clock)
    for i in range(25):
        state.create_ticket({"subject": f"t{i}", "description": "d", "email": "a@x.test"})
    sleeps: list[float] = []
    throttled: list[httpx.Response] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)

    with start(state, plan="growth", clock=clock) as sim, \
            httpx.Client(event_hooks={"response": [lambda r: throttled.append(r) if r.status_code == 429 else None]}) \
            as http, open_connector("freshdesk", "acme", config(sim.url), http=http, sleep=sleep) as conn:
        ids = [t.id for t in conn.iter_tickets(page_size=1)]
    assert sorted(ids, key=int) == [str(i) for i in range(1, 26)]
    assert len(throttled) == 1 and int(throttled[0].headers["x-ratelimit-remaining"]) > 0
    assert sleeps == [float(throttled[0].headers["retry-after"])]
