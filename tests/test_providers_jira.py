"""Jira specifics beyond the contract suite: request shapes, the transition planner, status-map
overrides, teams, webhook duplicates, rich bodies, and `deskhand connect jira`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from deskhand.cli import app
from deskhand.errors import ConfigError, TransitionError
from deskhand.model import Action, ActionKind, EventKind, Status, Visibility
from deskhand.providers import Connector, open_connector
from deskhand.sim import jira
from deskhand.sim.jira_limits import RateLimits
from deskhand.sim.jira_state import JiraState, Project, Transition, jsm_workflow
from deskhand.sim.jira_state import Status as JiraStatus

TOKEN = jira.DEFAULT_TOKEN
AGENT = "557058:0a4f9c2e-agent-0001"


def config(url: str, **extra: str) -> dict[str, str]:
    return {"site": "sim", "email": jira.DEFAULT_EMAIL, "api_token": TOKEN, "base_url": url, "project": "SUP", **extra}


@pytest.fixture
def sim() -> Iterator[jira.JiraSimServer]:
    server = jira.start(rate_limits=RateLimits.off())
    yield server
    server.stop()


@pytest.fixture
def conn(sim: jira.JiraSimServer) -> Iterator[Connector]:
    with open_connector("jira", "acme", config(sim.url)) as connector:
        yield connector


def act(conn: Connector, kind: ActionKind, ticket_id: str, **params: Any) -> dict[str, Any]:
    return conn.perform(Action(kind, ticket_id, key=f"t:{kind.value}", params=params))


def new_issue(conn: Connector) -> str:
    return conn.create_ticket(subject="Cannot log in", body="It says my password is wrong.").id


# -- request shapes (no simulator) -----------------------------------------------------------------


def recording(sent: list[httpx.Request], **values: str) -> Connector:
    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.path.endswith("/search/jql"):
            return httpx.Response(200, json={"issues": [], "isLast": True})
        return httpx.Response(201, json={"id": "10100"})

    base = {"site": "acme", "email": "me@acme.test", "api_token": "tok", **values}
    return open_connector("jira", "acme", base, http=httpx.Client(transport=httpx.MockTransport(handler)))


@pytest.mark.parametrize(
    ("project", "jql"),
    [("SUP", "project = SUP ORDER BY created ASC"), (None, "project is not EMPTY ORDER BY created ASC")],
    ids=["one-project", "every-project"],
)
def test_listing_sends_bounded_jql_explicit_fields_and_basic_auth(project: str | None, jql: str) -> None:
    sent: list[httpx.Request] = []
    conn = recording(sent, **({"project": project} if project else {}))
    assert list(conn.iter_tickets()) == []
    (request,) = sent
    assert str(request.url).startswith("https://acme.atlassian.net/rest/api/3/search/jql?")
    assert request.url.params["jql"] == jql and request.url.params["maxResults"] == "100"
    assert set(request.url.params["fields"].split(",")) >= {"summary", "description", "status", "labels", "reporter"}
    assert request.headers["authorization"] == httpx.BasicAuth("me@acme.test", "tok")._auth_header


def test_note_is_an_adf_comment_marked_internal_for_jsm_and_reply_is_plain_adf() -> None:
    sent: list[httpx.Request] = []
    conn = recording(sent)
    act(conn, ActionKind.NOTE, "SUP-1", body="Draft:\n\n- check the logs")
    act(conn, ActionKind.REPLY, "SUP-1", body="Hello")
    note, reply = (json.loads(r.content) for r in sent)
    assert [r.url.path for r in sent] == ["/rest/api/3/issue/SUP-1/comment"] * 2
    assert note["properties"] == [{"key": "sd.public.comment", "value": {"internal": True}}]
    assert note["body"]["type"] == "doc" and note["body"]["content"][1]["type"] == "bulletList"
    assert "properties" not in reply and reply["body"]["content"][0]["content"][0]["text"] == "Hello"


def test_tags_become_labels_without_spaces() -> None:
    sent: list[httpx.Request] = []
    act(recording(sent), ActionKind.ADD_TAGS, "SUP-1", tags=["vip customer", "billing", "billing"])
    assert json.loads(sent[0].content) == {"update": {"labels": [{"add": "vip_customer"}, {"add": "billing"}]}}


@pytest.mark.parametrize(
    ("values", "message"),
    [({"status_map": "Triage=nope"}, "status_map"), ({"teams": "Escalations"}, "teams"), ({"site": "a b"}, "site")],
    ids=["bad-status", "bad-teams", "bad-site"],
)
def test_bad_connection_values_are_config_errors(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_connector("jira", "acme", {"site": "acme", "email": "e", "api_token": "t", **values})


# -- statuses through transitions (simulator) ------------------------------------------------------


def test_a_status_two_transitions_away_is_reached_through_the_shortest_path(
    conn: Connector, sim: jira.JiraSimServer
) -> None:
    key = new_issue(conn)
    act(conn, ActionKind.SET_STATUS, key, status=Status.SOLVED)
    summary = act(conn, ActionKind.SET_STATUS, key, status=Status.PENDING)
    assert summary["transitions"] == ["Reopen", "Wait for customer"]
    assert conn.get_ticket(key).raw_status == "Waiting for customer"
    statuses = [i["toString"] for c in sim.state.issue(key).changelog for i in c.items if i["field"] == "status"]
    assert statuses == ["Resolved", "Open", "Waiting for customer"]


def test_setting_the_current_status_takes_no_transition(conn: Connector, sim: jira.JiraSimServer) -> None:
    key = new_issue(conn)
    assert act(conn, ActionKind.SET_STATUS, key, status=Status.NEW)["transitions"] == []
    assert sim.state.issue(key).changelog == []


def test_a_status_no_workflow_maps_raises_and_changes_nothing(conn: Connector, sim: jira.JiraSimServer) -> None:
    key = new_issue(conn)
    with pytest.raises(TransitionError, match=r"on_hold.*nothing was changed"):
        act(conn, ActionKind.SET_STATUS, key, status=Status.ON_HOLD)
    assert sim.state.issue(key).changelog == [] and conn.get_ticket(key).raw_status == "Open"


def test_a_mapped_status_outside_this_workflow_is_explored_then_walked_back() -> None:
    state = JiraState.default()
    other = jsm_workflow()
    other.statuses.append(JiraStatus("10002", "Pending", "indeterminate"))
    other.transitions.append(Transition("71", "Pend", "10002", ("1",)))
    state.projects["OPS"] = Project("10010", "OPS", "Operations", workflow=other, lead=AGENT)
    server = jira.start(state, rate_limits=RateLimits.off())
    try:
        with open_connector("jira", "acme", config(server.url)) as conn:
            key = new_issue(conn)
            with pytest.raises(TransitionError, match=r"on_hold.*'Open' again"):
                act(conn, ActionKind.SET_STATUS, key, status=Status.ON_HOLD)
            assert conn.get_ticket(key).raw_status == "Open"
    finally:
        server.stop()


def test_the_account_status_map_overrides_names(sim: jira.JiraSimServer) -> None:
    with open_connector(
        "jira", "acme", config(sim.url, status_map="In Progress=pending, waiting for customer=on_hold")
    ) as conn:
        key = new_issue(conn)
        summary = act(conn, ActionKind.SET_STATUS, key, status=Status.PENDING)
        assert (summary["status"], conn.get_ticket(key).status) == ("In Progress", Status.PENDING)
        act(conn, ActionKind.SET_STATUS, key, status=Status.ON_HOLD)
        assert conn.get_ticket(key).status is Status.ON_HOLD


# -- teams, comments, webhooks ---------------------------------------------------------------------


def test_a_team_is_the_person_who_triages_for_it(sim: jira.JiraSimServer) -> None:
    with open_connector("jira", "acme", config(sim.url, teams=f"Escalations={AGENT}")) as conn:
        (team,) = conn.list_teams()
        assert (team.name, team.id) == ("Escalations", AGENT)
        key = new_issue(conn)
        summary = act(conn, ActionKind.ASSIGN, key, team_id=team.id)
        assert summary["user_id"] == AGENT and conn.get_ticket(key).assignee_id == AGENT


def test_rich_bodies_survive_adf_both_ways(conn: Connector) -> None:
    key = new_issue(conn)
    body = "Try this:\n\n1. Open **Settings**\n2. Click [Reset](https://example.test/reset)\n\n```\nreset --all\n```"
    act(conn, ActionKind.NOTE, key, body=body)
    (note,) = conn.list_comments(key)
    assert (note.body, note.visibility) == (body, Visibility.INTERNAL)


def test_comment_webhooks_give_one_event_and_status_changes_an_update() -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        received.append((dict(request.headers), request.content))
        return httpx.Response(200)

    delivery = jira.JiraWebhookDelivery(transport=httpx.MockTransport(handler))
    server = jira.start(
        webhook_url="http://receiver.test/hooks",
        webhook_secret="s3",
        webhook_delivery=delivery,
        rate_limits=RateLimits.off(),
    )
    try:
        with open_connector("jira", "acme", config(server.url, webhook_secret="s3")) as conn:
            key = new_issue(conn)
            act(conn, ActionKind.REPLY, key, body="On it")
            act(conn, ActionKind.SET_STATUS, key, status=Status.OPEN)
            assert delivery.drain(10)
            kinds = []
            for headers, body in received:
                conn.verify_webhook(headers, body)
                kinds += [e.kind for e in conn.parse_webhook(headers, body)]
            assert len(received) == 4  # created, comment_created, issue_updated (commented), issue_updated
            assert kinds == [EventKind.TICKET_CREATED, EventKind.COMMENT_ADDED, EventKind.TICKET_UPDATED]
    finally:
        server.stop()


# -- deskhand connect jira -------------------------------------------------------------------------


def test_connect_jira_through_the_generic_command(
    sim: jira.JiraSimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESKHAND_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("DESKHAND_SECRET_KEY", Fernet.generate_key().decode())
    args = [
        "connect",
        "jira",
        "--name",
        "sup",
        "--site",
        "acme",
        "--email",
        jira.DEFAULT_EMAIL,
        "--api-token",
        TOKEN,
        "--webhook-secret",
        "shh",
        "--base-url",
        sim.url,
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert jira.DEFAULT_EMAIL in result.output and "/webhooks/jira/sup" in result.output
    listed = json.loads(CliRunner().invoke(app, ["accounts", "list", "--json"]).stdout)["accounts"]
    assert [(a["name"], a["provider"], a["config"]["api_token"] != TOKEN) for a in listed] == [("sup", "jira", True)]
    wrong = CliRunner().invoke(app, [*args[:-4], "--api-token", "nope", "--base-url", sim.url])
    assert wrong.exit_code != 0
