"""The Linear definition (defs/linear.yaml + linear.graphql + hooks/linear.py) against the Linear
simulator over loopback: its documents validate against Linear's schema; tickets, statuses (by
state type, pinned states for pending/on_hold), labels as tags, priority, comments, the sync feed,
webhooks as data, and the captured real deliveries."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from graphql import parse, validate

from deskhand.errors import ResourceNotFound
from deskhand.model import Action, ActionKind, EventKind, Priority, Status, Visibility
from deskhand.providers import Connector, open_connector
from deskhand.sim.base import SimServer
from deskhand.sim.linear import create_app, schema
from deskhand.sim.linear_state import LinearState

KEY = "lin_api_provider_test"
DEFS = Path(__file__).resolve().parents[1] / "deskhand" / "providers" / "defs"
FIXTURES = Path(__file__).resolve().parent / "data" / "captures" / "linear"  # Zulip's real deliveries (SOURCES.md)


class Sim:
    def __init__(self, state: LinearState) -> None:
        self.state, self.app = state, create_app(state, api_key=KEY)
        self.server = SimServer(self.app)


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    state = LinearState()
    state.seed_issues(8, random.Random(5))
    running = Sim(state)
    running.server.start()
    yield running
    running.server.stop()
    running.app.state.delivery.close()


def pins(state: LinearState) -> dict[str, str]:
    team = state.team["id"]
    return {"pending": state.state_named(team, "Waiting for customer")["id"],
            "on_hold": state.state_named(team, "On hold")["id"]}


@pytest.fixture
def conn(sim: Sim) -> Iterator[Connector]:
    with open_connector("linear", "acme", {"api_key": KEY, "team_id": sim.state.team["id"],
                                           "base_url": sim.server.url, "webhook_secret": "s"},
                        overrides={"status": pins(sim.state)}) as connector:
        yield connector


def test_every_operation_of_the_document_validates_against_linears_schema() -> None:
    document = parse((DEFS / "linear.graphql").read_text(encoding="utf-8"))
    assert validate(schema(), document) == []


def test_a_ticket_is_created_read_and_changed_through_the_definition(conn: Connector, sim: Sim) -> None:
    ticket = conn.create_ticket(subject="Printer on fire", body="It **smokes**", tags=["vip", "Bug"],
                                priority=Priority.HIGH)
    got = conn.get_ticket(ticket.id)
    assert (got.subject, got.description, got.status, got.priority) == ("Printer on fire", "It **smokes**",
                                                                         Status.NEW, Priority.HIGH)
    assert set(got.tags) == {"vip", "Bug"} and got.url and got.url.endswith(sim.state.issue(ticket.id)["identifier"])
    for status, raw in [(Status.OPEN, "In Progress"), (Status.PENDING, "Waiting for customer"),
                        (Status.ON_HOLD, "On hold"), (Status.SOLVED, "Done"), (Status.CLOSED, "Canceled"),
                        (Status.NEW, "Triage")]:
        summary = conn.perform(Action(ActionKind.SET_STATUS, ticket.id, key=f"s-{status}", params={"status": status}))
        again = conn.get_ticket(ticket.id, with_comments=False)
        assert (summary["status"], again.status, again.raw_status) == (raw, status, raw)
    conn.perform(Action(ActionKind.ADD_TAGS, ticket.id, key="t", params={"tags": ["billing", "vip"]}))
    assert set(conn.get_ticket(ticket.id).tags) == {"vip", "Bug", "Billing"}  # an existing label, any case
    first = conn.perform(Action(ActionKind.REPLY, ticket.id, key="r1", params={"body": "On it"}))
    conn.perform(Action(ActionKind.REPLY, ticket.id, key="r2", params={"body": "Fixed"}))
    comments = conn.list_comments(ticket.id)
    assert [c.body for c in comments] == ["On it", "Fixed"] and comments[0].id == first["comment_id"]
    assert {c.visibility for c in comments} == {Visibility.PUBLIC}
    assert comments[0].author_id == conn.current_user().id


def test_an_unpinned_pending_takes_the_first_started_state_and_reads_as_open(sim: Sim) -> None:
    with open_connector("linear", "acme", {"api_key": KEY, "team_id": sim.state.team["id"],
                                           "base_url": sim.server.url}) as bare:
        ticket = bare.create_ticket(subject="No pins", body="x")
        summary = bare.perform(Action(ActionKind.SET_STATUS, ticket.id, key="p", params={"status": Status.PENDING}))
        got = bare.get_ticket(ticket.id, with_comments=False)
    assert (summary["status"], got.status, got.raw_status) == ("In Progress", Status.OPEN, "In Progress")


def test_an_unknown_issue_is_not_found_and_a_draft_has_no_note_action(conn: Connector) -> None:
    with pytest.raises(ResourceNotFound):
        conn.get_ticket("SUP-9999")
    assert ActionKind.NOTE not in conn.definition.actions


def test_listing_pages_through_the_teams_issues(conn: Connector, sim: Sim) -> None:
    ids = [t.id for t in conn.iter_tickets(page_size=3)]
    live = {i["id"] for i in sim.state.issues.values() if not i.get("trashed")}
    assert len(ids) == len(set(ids)) and set(ids) == live


@pytest.mark.parametrize(("fixture", "kind"), [("zulip_issue_create_complex.json", EventKind.TICKET_CREATED),
                                               ("zulip_comment_create.json", EventKind.COMMENT_ADDED)],
                         ids=["issue-create", "comment-create"])
def test_captured_real_deliveries_become_events(conn: Connector, fixture: str, kind: EventKind) -> None:
    body = (FIXTURES / fixture).read_bytes()
    payload = json.loads(body)
    headers = {"linear-delivery": "d-1", "linear-event": payload["type"]}
    events = conn.parse_webhook(headers, body)
    assert [e.kind for e in events] == [kind]
    expected = payload["data"]["issueId"] if kind is EventKind.COMMENT_ADDED else payload["data"]["id"]
    assert events[0].ticket_id == expected and events[0].delivery_id == "d-1"


def test_register_webhook_creates_a_signed_webhook_for_the_team_and_reads_its_secret(conn: Connector, sim: Sim) -> None:
    from deskhand.providers.registration import register_webhook

    made = register_webhook(conn, "https://deskhand.example.com")
    hook = sim.state.webhooks[made.id]
    assert made.url == hook["url"] == "https://deskhand.example.com/webhooks/linear/acme"
    assert made.secret == hook["secret"] and hook["teamId"] == sim.state.team["id"]
    assert hook["resourceTypes"] == ["Issue", "Comment"] and not hook["allPublicTeams"]
    hook["enabled"] = False  # (nothing listens there)


def test_a_query_over_budget_waits_in_a_read_lane_while_a_mutation_is_deferred() -> None:
    """GraphQL sends every call as POST: a query (idempotent) takes a read lane and waits for the budget
    (epoch-ms resets) before sending, never throttled; a mutation is a write, deferred (BudgetWait)
    when its wait is over the write lane's limit."""
    from deskhand.limits.lanes import INTERACTIVE, WRITE
    from deskhand.limits.limiter import BudgetLimiter, BudgetWait
    from deskhand.limits.redis import LocalBook
    from deskhand.providers import load_definition
    from deskhand.sim.base import ManualClock

    clock = ManualClock(1_796_000_000.0)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)

    state = LinearState(clock=clock)
    app = create_app(state, api_key=KEY, rate_limit=2, period_s=60.0)
    limiter = BudgetLimiter(LocalBook(), "linear", "acme", load_definition("linear").limits, clock=clock,
                            sleep=sleep, max_sleep_s={INTERACTIVE: 7200.0, WRITE: 1.0})
    with SimServer(app) as server, open_connector(
            "linear", "acme", {"api_key": KEY, "team_id": state.team["id"], "base_url": server.url},
            limiter=limiter, sleep=sleep) as conn:
        assert [len(conn.list_users()) for _ in range(3)] == [1, 1, 1]
        assert sleeps and app.state.limits.throttled == 0  # waited for, never answered 400 RATELIMITED
        with pytest.raises(BudgetWait):
            conn.create_ticket(subject="Later", body="x")
    app.state.delivery.close()
