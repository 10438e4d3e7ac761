"""One contract for every provider definition, against its simulator over loopback HTTP.

Each test body is written once and runs for every entry of CASES; adding a provider means adding
one `Case` (how to start its simulator, its connection values, what its statuses read back as).
Captured real payloads are checked against hand-written expectations in test_captured_payloads.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from deskhand.errors import ConfigError, SignatureError
from deskhand.model import Action, ActionKind, EventKind, Priority, Role, Status, Ticket, Visibility
from deskhand.providers import Connector, open_connector
from deskhand.sim import freshdesk, front, jira, registry, trello, zendesk
from deskhand.sim.base import ManualClock, SimServer
from deskhand.sim.front_state import FrontState
from deskhand.sim.jira_limits import RateLimits
from deskhand.sim.jira_state import JiraState, Transition, jsm_workflow
from deskhand.sim.jira_state import Status as JiraStatus
from deskhand.sim.linear_state import LinearState
from deskhand.sim.registry import SimConfig
from deskhand.sim.servicenow_state import ServiceNowState
from deskhand.sim.trello_seed import default_state as trello_state
from deskhand.sim.trello_spec import overrides as trello_overrides
from deskhand.testing.receiver import WebhookReceiver

TOKEN = "deskhand-sim-token"
SECRET = "whsec-contract-secret"


@dataclass(frozen=True)
class Case:
    name: str
    start: Callable[[str, str], Any]  # (webhook url, secret) -> running simulator
    start_limited: Callable[[ManualClock], Any]  # a simulator with a budget of two reads
    config: Callable[[str], dict[str, str]]  # simulator url -> connection values
    drain: Callable[[Any], bool]  # wait for the simulator's webhook deliveries
    ticket_ids: Callable[[Any], set[str]]  # every ticket id the simulator holds
    statuses: dict[Status, str]  # unified status -> raw status it reads back as (absent: cannot be set)
    created_status: Status = Status.NEW  # what a new ticket reads as
    signs_body: bool = True  # False: webhooks carry a shared secret, not a signature of the body
    webhook_details: bool = True  # False: webhooks name no comment id, author or time (read the ticket)
    overrides: Callable[[Any], dict[str, Any]] = lambda sim: {}  # the account's --set values for this simulator
    notes: bool = True  # False: the helpdesk has no internal notes (the note action is refused, nothing sent)
    throttle_wait: float | None = None  # a 429 without Retry-After: the wait the definition declares
    budget_wait: float | None = None  # the answers announce the budget (Linear): the over-budget read waits this

    def __str__(self) -> str:
        return self.name


# -- zendesk --------------------------------------------------------------------------------------

ZD_GET = "zendesk/fixture/GET"
ZENDESK = Case(
    name="zendesk",
    start=lambda url, secret: zendesk.start(token=TOKEN, webhook_url=url, webhook_secret=secret, port=0),
    start_limited=lambda clock: zendesk.start(token=TOKEN, rate_limit=2, window_s=60, clock=clock, port=0),
    config=lambda url: {
        "subdomain": "sim",
        "email": "admin@deskhand.test",
        "api_token": TOKEN,
        "base_url": url,
        "webhook_secret": SECRET,
    },
    drain=lambda sim: bool(sim.delivery.drain(10)),
    ticket_ids=lambda sim: {str(t) for t in sim.state.tickets},
    statuses={
        Status.NEW: "new",
        Status.OPEN: "open",
        Status.PENDING: "pending",
        Status.ON_HOLD: "hold",
        Status.SOLVED: "solved",
        Status.CLOSED: "closed",
    },
)


# -- jira -----------------------------------------------------------------------------------------


def jira_state() -> JiraState:
    """The default JSM project, its workflow extended with a "Pending" status (→ on_hold) that is
    only left through "In Progress", so some statuses need more than one transition."""
    state = JiraState.default()
    workflow = jsm_workflow()
    workflow.statuses.append(JiraStatus("10002", "Pending", "indeterminate"))
    workflow.transitions += [Transition("71", "Pend", "10002", ("1", "3")), Transition("81", "Resume", "3", ("10002",))]
    state.projects["SUP"].workflow = workflow
    return state


JIRA = Case(
    name="jira",
    start=lambda url, secret: jira.start(
        jira_state(),
        webhook_url=url,
        webhook_secret=secret,
        rate_limits=RateLimits.off(),
        webhook_delivery=jira.JiraWebhookDelivery(backoff_s=0.05, max_backoff_s=0.1),
    ),
    start_limited=lambda clock: jira.start(
        rate_limits=RateLimits(burst={"GET": 2, "POST": 100, "PUT": 50, "DELETE": 50}, overrides={}), clock=clock
    ),
    config=lambda url: {
        "site": "sim",
        "email": jira.DEFAULT_EMAIL,
        "api_token": TOKEN,
        "base_url": url,
        "webhook_secret": SECRET,
        "project": "SUP",
    },
    drain=lambda sim: bool(sim.webhooks.delivery.drain(10)),
    ticket_ids=lambda sim: {i.key for i in sim.state.issues.values()},
    statuses={
        Status.NEW: "Open",
        Status.OPEN: "In Progress",
        Status.PENDING: "Waiting for customer",
        Status.ON_HOLD: "Pending",
        Status.SOLVED: "Resolved",
        Status.CLOSED: "Closed",
    },
)

# -- freshdesk ------------------------------------------------------------------------------------

FRESHDESK = Case(
    name="freshdesk",
    start=lambda url, secret: freshdesk.start(webhook_url=url, webhook_secret=secret, rate_limit=10**6,
                                              retry_scale=1e-4),
    start_limited=lambda clock: freshdesk.start(rate_limit=2, window_s=60, clock=clock),
    config=lambda url: {
        "domain": "sim",
        "api_key": freshdesk.DEFAULT_API_KEY,
        "base_url": url,
        "webhook_secret": SECRET,
    },
    drain=lambda sim: bool(sim.delivery.drain(10)),
    ticket_ids=lambda sim: {str(i) for i, t in sim.state.tickets.items() if not t["_deleted"]},
    statuses={Status.OPEN: "2", Status.PENDING: "3", Status.ON_HOLD: "7", Status.SOLVED: "4", Status.CLOSED: "5"},
    created_status=Status.OPEN,  # Freshdesk has no "new" status: tickets arrive Open
    signs_body=False,  # automation-rule webhooks carry the secret in a header, nothing is signed
    webhook_details=False,  # placeholders give no conversation id, author id or time
)

# -- servicenow -----------------------------------------------------------------------------------

SERVICENOW = Case(
    name="servicenow",
    start=lambda url, secret: registry.get("servicenow").start(SimConfig(webhook_url=url, webhook_secret=secret)),
    start_limited=lambda clock: registry.get("servicenow").start(
        SimConfig(rate_limit=2, window_s=60, state=ServiceNowState(clock=clock))),
    config=lambda url: {"instance": "acme", "username": "admin", "password": TOKEN, "base_url": url,
                        "webhook_secret": SECRET},
    drain=lambda sim: all(rule.delivery.drain(10) for rule in sim.state.listeners),
    ticket_ids=lambda sim: set(sim.state.tables["incident"]),
    statuses={Status.NEW: "1", Status.OPEN: "2", Status.PENDING: "3", Status.ON_HOLD: "3", Status.SOLVED: "6",
              Status.CLOSED: "7"},
)

# -- trello ---------------------------------------------------------------------------------------

TRELLO_CALLBACKS: dict[str, str] = {}  # simulator url -> the callback url its webhook was created with


def trello_start(url: str, secret: str) -> Any:
    sim = trello.start(app_secret=secret, token=TOKEN, state=trello_state(TOKEN), retry_scale=1e-4)
    with sim.state.lock:  # the webhook deskhand would create on the board (HEAD-checked in test_sim_trello)
        hook = sim.state.new_id()
        sim.state.webhooks[hook] = {"id": hook, "description": "deskhand", "idModel": next(iter(sim.state.boards)),
                                    "callbackURL": url, "active": True, "consecutiveFailures": 0,
                                    "firstConsecutiveFailDate": None, "_token": TOKEN, "_key": trello.DEFAULT_KEY}
    TRELLO_CALLBACKS[sim.url] = url
    return sim


def trello_config(url: str) -> dict[str, str]:
    return {"api_key": trello.DEFAULT_KEY, "token": TOKEN, "base_url": url, "webhook_secret": SECRET,
            "board": "", "callback_url": TRELLO_CALLBACKS.get(url, "http://127.0.0.1/hook")}


TRELLO_BOARDS: dict[str, str] = {}


def trello_case_config(url: str) -> dict[str, str]:
    return {**trello_config(url), "board": TRELLO_BOARDS[url]}


def trello_started(sim: Any) -> Any:
    TRELLO_BOARDS[sim.url] = next(iter(sim.state.boards))
    return sim


def key_spent_elsewhere(sim: Any) -> Any:
    """Another token of the same API key (another app user) spent the key's budget for this window:
    nothing deskhand has seen announces it, so its first call is answered 429 API_KEY_LIMIT_EXCEEDED."""
    for _ in range(sim.limits.key_max):
        sim.limits.spend(trello.DEFAULT_KEY, "another-members-token")
    return sim


TRELLO = Case(
    name="trello",
    start=lambda url, secret: trello_started(trello_start(url, secret)),
    start_limited=lambda clock: trello_started(key_spent_elsewhere(trello.start(
        trello_state(TOKEN, clock=clock), token=TOKEN, key_max=3, clock=clock))),
    config=trello_case_config,
    drain=lambda sim: bool(sim.delivery.drain(10)),
    ticket_ids=lambda sim: set(sim.state.cards),
    statuses={},  # filled per simulator: list ids (see trello_statuses)
    overrides=lambda sim: trello_overrides(sim.state),
    notes=False,  # every comment is seen by every board member: a draft waits in the review queue
    throttle_wait=10.0,  # Trello's 429 body says nothing of how long: one window (limits.window_s)
)

# -- front ----------------------------------------------------------------------------------------

FRONT = Case(
    name="front",
    start=lambda url, secret: front.start(FrontState(send_delay_s=0.05), webhook_url=url, webhook_secret=secret,
                                          rate_limit=10**6),
    start_limited=lambda clock: front.start(FrontState(clock=clock), rate_limit=2, window_s=60),
    config=lambda url: {"api_token": front.DEFAULT_TOKEN, "base_url": url, "teammate_id": "tea_2",
                        "webhook_secret": SECRET},
    drain=lambda sim: bool(sim.delivery.drain(10)),
    ticket_ids=lambda sim: {c for c, v in sim.state.conversations.items() if v["_status"] not in ("deleted", "spam")},
    # ticket statuses of the three categories (sts_1 open, sts_2 waiting, sts_3 resolved); new reads as
    # open, and on_hold / closed share waiting / resolved (an account may name its own with --set status.*)
    statuses={Status.OPEN: "sts_1", Status.PENDING: "sts_2", Status.SOLVED: "sts_3"},
    created_status=Status.OPEN,
    webhook_details=False,  # application webhooks send previews: no author, read the conversation
)

# -- linear ---------------------------------------------------------------------------------------


def linear_start(url: str | None = None, secret: str | None = None, clock: ManualClock | None = None,
                 rate_limit: int | None = None) -> Any:
    from deskhand.sim.linear_spec import build  # (not yet in the registry's BUILTIN)

    state = LinearState(clock=clock) if clock else LinearState()
    built = build(SimConfig(token=TOKEN, webhook_url=url, webhook_secret=secret, state=state, rate_limit=rate_limit,
                            window_s=60.0, quick_retries=True))
    server = SimServer(built.app).start()
    server.state, server.built = state, built  # type: ignore[attr-defined]
    stop = server.stop
    server.stop = lambda *a: (stop(*a), built.close())  # type: ignore[method-assign]
    return server


def linear_pins(sim: Any) -> dict[str, Any]:
    """``--set status.pending=<state id> --set status.on_hold=<state id>``: Linear has no type for them."""
    team = sim.state.team["id"]
    return {"status": {"pending": sim.state.state_named(team, "Waiting for customer")["id"],
                       "on_hold": sim.state.state_named(team, "On hold")["id"]}}


LINEAR = Case(
    name="linear",
    start=lambda url, secret: linear_start(url, secret),
    start_limited=lambda clock: linear_start(clock=clock, rate_limit=2),
    config=lambda url: {"api_key": TOKEN, "base_url": url, "webhook_secret": SECRET,
                        "team_id": LINEAR_TEAMS.get(url, "")},
    drain=lambda sim: bool(sim.built.app.state.delivery.drain(10)),
    ticket_ids=lambda sim: {i for i, issue in sim.state.issues.items() if not issue.get("trashed")},
    statuses={Status.NEW: "Triage", Status.OPEN: "In Progress", Status.PENDING: "Waiting for customer",
              Status.ON_HOLD: "On hold", Status.SOLVED: "Done", Status.CLOSED: "Canceled"},
    overrides=linear_pins,
    notes=False,  # comments have no private flag: a draft never becomes a comment, it waits in the review queue
    budget_wait=30.0,  # two requests a minute, leaking: one is back 30 s after the second (paced reads)
)
LINEAR_TEAMS: dict[str, str] = {}  # simulator url -> its team id


def _linear_started(start: Callable[..., Any]) -> Callable[..., Any]:
    def started(*args: Any, **kw: Any) -> Any:
        sim = start(*args, **kw)
        LINEAR_TEAMS[sim.url] = sim.state.team["id"]
        return sim
    return started


linear_start = _linear_started(linear_start)  # type: ignore[assignment]

CASES = [ZENDESK, JIRA, FRESHDESK, SERVICENOW, TRELLO, FRONT, LINEAR]


def raw_statuses(env: Any) -> dict[Status, str]:
    """Unified status -> raw status read back (Trello: the id of the list the account maps it to)."""
    if env.case.name != "trello":
        return env.case.statuses
    lists = env.case.overrides(env.sim)["list"]
    return {**{Status(k): v for k, v in lists.items()}, Status.CLOSED: "closed"}


# -- fixtures -------------------------------------------------------------------------------------


@dataclass
class Env:
    case: Case
    sim: Any
    receiver: WebhookReceiver


@pytest.fixture(scope="module", params=CASES, ids=str)
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    case: Case = request.param
    receiver = WebhookReceiver()
    sim = case.start(receiver.url, SECRET)
    yield Env(case, sim, receiver)
    sim.stop()
    receiver.close()


@pytest.fixture
def seen() -> list[httpx.Request]:
    return []


@pytest.fixture
def conn(env: Env, seen: list[httpx.Request]) -> Iterator[Connector]:
    http = httpx.Client(timeout=10, event_hooks={"request": [seen.append]})
    connector = open_connector(env.case.name, "acme", env.case.config(env.sim.url), http=http,
                               overrides=env.case.overrides(env.sim))
    yield connector
    http.close()


def new_ticket(conn: Connector, subject: str = "Printer on fire", **kw: Any) -> Ticket:
    return conn.create_ticket(
        subject=subject,
        body=f"{subject}: please help",
        requester_name="Ann Customer",
        requester_email="ann@example.test",
        **kw,
    )


def act(conn: Connector, kind: ActionKind, ticket_id: str, **params: Any) -> dict[str, Any]:
    return conn.perform(Action(kind, ticket_id, key=f"contract:{kind.value}", params=params))


# -- the contract ---------------------------------------------------------------------------------


def test_create_then_get_reads_back_subject_body_status_priority_tags(conn: Connector, env: Env) -> None:
    created = new_ticket(conn, tags=["vip", "printer"], priority=Priority.HIGH)
    got = conn.get_ticket(created.id)
    assert (got.id, got.subject, got.description) == (created.id, "Printer on fire", "Printer on fire: please help")
    assert got.status is env.case.created_status
    assert got.priority is Priority.HIGH and set(got.tags) == {"vip", "printer"}
    assert got.url and got.created_at is not None and got.created_at.tzinfo is not None


def test_listing_walks_every_page(conn: Connector, env: Env, seen: list[httpx.Request]) -> None:
    for n in range(5):
        new_ticket(conn, subject=f"Paged {n}")
    seen.clear()
    ids = [t.id for t in conn.iter_tickets(page_size=2)]
    assert len(ids) == len(set(ids)) and set(ids) == env.case.ticket_ids(env.sim)
    assert len(ids) >= 5 and len(seen) >= 3
    assert all(r.url.path == seen[0].url.path for r in seen)


@pytest.mark.parametrize(
    ("kind", "visibility"),
    [(ActionKind.REPLY, Visibility.PUBLIC), (ActionKind.NOTE, Visibility.INTERNAL)],
    ids=["reply-public", "note-internal"],
)
def test_reply_and_note_are_read_back_with_their_visibility(
    conn: Connector, env: Env, kind: ActionKind, visibility: Visibility
) -> None:
    ticket = new_ticket(conn)
    if kind is ActionKind.NOTE and not env.case.notes:  # refused before anything is sent
        with pytest.raises(ConfigError, match="cannot note"):
            act(conn, kind, ticket.id, body="note text")
        assert conn.list_comments(ticket.id) == []
        return
    summary = act(conn, kind, ticket.id, body=f"{kind.value} text")
    last = conn.list_comments(ticket.id)[-1]
    assert (last.body, last.visibility, last.id) == (f"{kind.value} text", visibility, str(summary["comment_id"]))
    assert last.author_id == conn.current_user().id


@pytest.mark.parametrize("status", list(Status), ids=str)
def test_every_unified_status_is_set_and_read_back(conn: Connector, env: Env, status: Status) -> None:
    ticket = new_ticket(conn)
    if status is Status.NEW:
        act(conn, ActionKind.SET_STATUS, ticket.id, status=Status.OPEN)
    raw = raw_statuses(env).get(status)
    if raw is None:  # the helpdesk has no such status: refused before anything is sent
        with pytest.raises(ValueError, match="is not one of"):
            act(conn, ActionKind.SET_STATUS, ticket.id, status=status)
        return
    summary = act(conn, ActionKind.SET_STATUS, ticket.id, status=status)
    assert str(summary["status"]) == raw
    got = conn.get_ticket(ticket.id, with_comments=False)
    assert (got.status, got.raw_status) == (status, raw)


def test_tags_are_added_to_the_existing_ones(conn: Connector) -> None:
    ticket = new_ticket(conn, tags=["printer"])
    act(conn, ActionKind.ADD_TAGS, ticket.id, tags=["auto_replied", "billing"])
    assert set(conn.get_ticket(ticket.id).tags) == {"printer", "auto_replied", "billing"}


def test_assignment_and_priority_are_read_back(conn: Connector) -> None:
    ticket = new_ticket(conn)
    agent = next(u for u in conn.list_users() if u.role in (Role.AGENT, Role.ADMIN))
    act(conn, ActionKind.ASSIGN, ticket.id, user_id=agent.id)
    act(conn, ActionKind.SET_PRIORITY, ticket.id, priority=Priority.URGENT)
    got = conn.get_ticket(ticket.id)
    assert (got.assignee_id, got.priority) == (agent.id, Priority.URGENT)


def test_webhooks_become_events_for_created_and_commented(conn: Connector, env: Env) -> None:
    env.receiver.deliveries.clear()
    ticket = new_ticket(conn, subject="Webhook please")
    summary = act(conn, ActionKind.REPLY, ticket.id, body="on it")
    assert env.case.drain(env.sim)
    events = []
    for headers, body in env.receiver.deliveries:
        conn.verify_webhook(headers, body)
        events += [e for e in conn.parse_webhook(headers, body) if e.ticket_id == ticket.id]
    kinds = [e.kind for e in events]
    assert kinds.count(EventKind.TICKET_CREATED) == 1 and kinds.count(EventKind.COMMENT_ADDED) == 1
    comment = next(e for e in events if e.kind is EventKind.COMMENT_ADDED)
    assert all(e.provider == env.case.name and e.account == "acme" for e in events)
    assert len({e.delivery_id for e in events}) == len(events)
    if env.case.webhook_details:
        assert comment.comment_id == str(summary["comment_id"]) and comment.author_id == conn.current_user().id
        assert all(e.occurred_at is not None and e.occurred_at <= datetime.now(UTC) for e in events)


def test_a_bad_signature_is_rejected(conn: Connector, env: Env) -> None:
    env.receiver.deliveries.clear()
    new_ticket(conn, subject="Signed please")
    assert env.case.drain(env.sim)
    headers, body = env.receiver.deliveries[0]
    conn.verify_webhook(headers, body)
    if env.case.signs_body:
        tampered = body.replace(b"Signed please", b"Signed pleaze")
        if tampered == body:  # a preview (Front) names no subject: change its last byte instead
            tampered = body[:-1] + b" "
        with pytest.raises(SignatureError):
            conn.verify_webhook(headers, tampered)
    wrong = open_connector(env.case.name, "acme", {**env.case.config(env.sim.url), "webhook_secret": "not-it"})
    with wrong, pytest.raises(SignatureError):
        wrong.verify_webhook(headers, body)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_429_is_waited_out_as_told_then_succeeds(case: Case, tmp_path: Path) -> None:
    clock = ManualClock(start=1_700_000_000.0)
    sleeps: list[float] = []
    limited: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)

    def note(response: httpx.Response) -> None:
        if response.status_code == 429:
            told = response.headers.get("retry-after")
            limited.append(float(told) if told is not None else float(case.throttle_wait or -1))

    server = case.start_limited(clock)
    http = httpx.Client(timeout=10, event_hooks={"response": [note]})
    try:
        limiter = None
        if case.throttle_wait is not None or case.budget_wait is not None:  # the account's budget book knows how long
            from deskhand.limits import BudgetBook, BudgetLimiter
            from deskhand.providers import load_definition
            from deskhand.store.db import open_engine

            engine = open_engine(f"sqlite:///{tmp_path / 'limits.db'}")
            limiter = BudgetLimiter(BudgetBook(engine), case.name, "acme", load_definition(case.name).limits,
                                    clock=clock, sleep=sleep, values=case.config(server.url),
                                    max_sleep_s={"interactive": 120.0, "background": 120.0, "backfill": 120.0,
                                                 "write": 120.0})
        with open_connector(case.name, "acme", case.config(server.url), http=http, sleep=sleep, limiter=limiter,
                            overrides=case.overrides(server)) as conn:
            results = [conn.list_users() for _ in range(3)]  # the third read is over budget
        if case.budget_wait is not None:  # the headers announced it: waited out before sending, never throttled
            assert limited == [] and sleeps == [pytest.approx(case.budget_wait, abs=1.0)]
        else:
            assert len(limited) == 1 and sleeps == limited
        assert results[0] and results[2] == results[0]
    finally:
        http.close()
        server.stop()


# -- real captured payloads → the unified model -----------------------------------------------------


