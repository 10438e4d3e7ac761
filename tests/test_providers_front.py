"""The Front connector (defs/front.yaml + hooks/front.py) against the simulator over loopback HTTP:
statuses (and per-account status ids), tags kept, teams as inboxes, bodies, and bad input."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from deskhand.errors import AuthError, BadResponse, ProviderError
from deskhand.model import Action, ActionKind, Status, Visibility
from deskhand.providers import Connector, open_connector
from deskhand.sim.base import SimServer
from deskhand.sim.front import DEFAULT_TOKEN, FrontSim, start
from deskhand.sim.front_state import FrontState


def config(url: str, **extra: Any) -> dict[str, Any]:
    return {"api_token": DEFAULT_TOKEN, "base_url": url, "teammate_id": "tea_2", **extra}


@pytest.fixture
def sim() -> Iterator[FrontSim]:
    with start(FrontState(send_delay_s=0.0), rate_limit=10**6) as server:
        yield server


@pytest.fixture
def sent() -> list[httpx.Request]:
    return []


@pytest.fixture
def conn(sim: FrontSim, sent: list[httpx.Request]) -> Iterator[Connector]:
    http = httpx.Client(timeout=10, event_hooks={"request": [sent.append]})
    with open_connector("front", "acme", config(sim.url), http=http) as connector:
        yield connector
    http.close()


def act(conn: Connector, kind: ActionKind, ticket_id: str, **params: Any) -> dict[str, Any]:
    return conn.perform(Action(kind, ticket_id, key=f"t:{kind.value}", params=params))


def new(conn: Connector, **kw: Any) -> str:
    return conn.create_ticket(subject="VPN down", body="It drops every hour", requester_name="Ann",
                              requester_email="ann@example.test", **kw).id


def test_a_new_ticket_is_an_inbound_message_whose_text_is_the_description(conn: Connector) -> None:
    ticket = conn.get_ticket(new(conn))
    assert (ticket.subject, ticket.description, ticket.status) == ("VPN down", "It drops every hour", Status.OPEN)
    assert ticket.requester is not None and ticket.requester.email == "ann@example.test"
    (first,) = ticket.comments
    assert (first.visibility, first.author_id) == (Visibility.PUBLIC, "ann@example.test")


@pytest.mark.parametrize(("status", "raw"), [(Status.OPEN, "sts_1"), (Status.PENDING, "sts_2"),
                                             (Status.SOLVED, "sts_3")], ids=str)
def test_statuses_are_the_first_ticket_status_of_their_category(conn: Connector, status: Status, raw: str) -> None:
    tid = new(conn)
    assert act(conn, ActionKind.SET_STATUS, tid, status=status)["status"] == raw
    assert conn.get_ticket(tid, with_comments=False).status is status


def test_an_account_s_own_status_ids_are_used_and_read_back(sim: FrontSim) -> None:
    custom = "sts_9"
    sim.state.statuses[custom] = {"id": custom, "name": "On hold", "category": "waiting", "description": None,
                                  "created_at": 0.0, "updated_at": 0.0}
    with open_connector("front", "acme", config(sim.url), overrides={"status": {"on_hold": custom}}) as conn:
        tid = new(conn)
        assert act(conn, ActionKind.SET_STATUS, tid, status=Status.ON_HOLD)["status"] == custom
        got = conn.get_ticket(tid, with_comments=False)
        assert (got.status, got.raw_status) == (Status.ON_HOLD, custom)


@pytest.mark.parametrize("status", [Status.NEW, Status.ON_HOLD, Status.CLOSED], ids=str)
def test_a_status_front_cannot_read_back_is_refused_and_nothing_is_sent(conn: Connector, sent: list[httpx.Request],
                                                                         status: Status) -> None:
    tid = new(conn)
    sent.clear()
    with pytest.raises(ValueError, match=r"status .* is not one of .*--set status"):
        act(conn, ActionKind.SET_STATUS, tid, status=status)
    assert sent == []


def test_add_tags_keeps_the_other_tags(conn: Connector, sim: FrontSim) -> None:
    tid = new(conn, tags=["printer"])
    act(conn, ActionKind.ADD_TAGS, tid, tags=["deskhand_escalated"])
    assert set(conn.get_ticket(tid).tags) == {"printer", "deskhand_escalated"}


def test_a_team_is_the_conversation_s_inbox(conn: Connector, sim: FrontSim) -> None:
    inbox = sim.state.add_inbox("Billing")
    team = sim.state.add_team("Billing", [sim.state.admin["id"]], [inbox["id"]])
    tid = new(conn)
    act(conn, ActionKind.ASSIGN, tid, team_id=team["id"])
    assert sim.state.conversations[tid]["inbox_id"] == inbox["id"]
    with open_connector("front", "acme", config(sim.url)) as fresh:
        assert fresh.get_ticket(tid).team_id == team["id"]


def test_a_reply_is_html_read_back_as_the_same_text_and_a_note_is_an_internal_comment(conn: Connector,
                                                                                      sim: FrontSim) -> None:
    tid = new(conn)
    text = "Hi,\n\nTry <Reset> & again."
    reply = act(conn, ActionKind.REPLY, tid, body=text)
    note = act(conn, ActionKind.NOTE, tid, body="**check** billing")
    stored = next(m for m in sim.state.messages[tid] if m["id"] == reply["comment_id"])
    assert stored["body"] == "<p>Hi,</p><p>Try &lt;Reset&gt; &amp; again.</p>"
    comments = {c.id: c for c in conn.list_comments(tid)}
    assert (comments[reply["comment_id"]].body, comments[reply["comment_id"]].visibility) == (text, Visibility.PUBLIC)
    assert comments[note["comment_id"]].visibility is Visibility.INTERNAL


def test_wrong_token_is_an_auth_error(sim: FrontSim) -> None:
    with open_connector("front", "acme", config(sim.url, api_token="wrong", teammate_id="")) as conn, \
            pytest.raises(AuthError, match="401"):
        conn.current_user()


def test_a_site_answering_html_is_a_bad_response() -> None:
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    async def page(request: Any) -> HTMLResponse:
        return HTMLResponse("<html>Welcome to our shop</html>")

    with SimServer(Starlette(routes=[Route("/{path:path}", page)])) as other, \
            open_connector("front", "acme", config(other.url)) as conn, pytest.raises(BadResponse, match="not JSON"):
        conn.get_ticket("cnv_1")


def test_front_down_is_a_provider_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open_connector("front", "acme", config(f"http://127.0.0.1:{port}"), sleep=lambda s: None) as conn, \
            pytest.raises(ProviderError, match="cannot connect"):
        conn.get_ticket("cnv_1")


def test_an_unknown_conversation_is_a_404_naming_it(conn: Connector) -> None:
    with pytest.raises(ProviderError, match="cnv_404") as caught:
        conn.get_ticket("cnv_404")
    assert caught.value.status == 404


def _example(node: Any, components: dict[str, Any], depth: int = 0) -> Any:
    """An object built from the OpenAPI description's own `example` values (Front's documented shapes)."""
    if "$ref" in node:
        node = {**components[node["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    if "example" in node and node.get("type") != "object":
        return node["example"]
    if depth > 4:
        return None
    if node.get("type") == "array" or "items" in node:
        return [_example(node.get("items", {}), components, depth + 1)]
    if node.get("type") == "object" or "properties" in node:
        return {k: _example(v, components, depth + 1) for k, v in node.get("properties", {}).items()}
    return None


@pytest.mark.skipif(not __import__("os").environ.get("DESKHAND_FRONT_CORE_API"),
                    reason="DESKHAND_FRONT_CORE_API names no core-api.json (not shipped: no licence)")
def test_front_s_documented_conversation_normalises() -> None:
    import json
    import os
    from pathlib import Path

    from deskhand.providers import records

    spec = json.loads(Path(os.environ["DESKHAND_FRONT_CORE_API"]).read_text())
    schemas = spec["components"]["schemas"]
    record = _example({"$ref": "#/components/schemas/ConversationResponse"}, schemas)
    with open_connector("front", "acme", config("http://127.0.0.1:9")) as conn:
        ticket = records.read_ticket(conn.readers["ticket"], record, url_values=conn.values)
    assert ticket.id == record["id"] and ticket.subject == record["subject"]
    assert ticket.status is {"open": Status.OPEN, "waiting": Status.PENDING,
                             "resolved": Status.SOLVED}[record["status_category"]]
    assert ticket.raw_status == record["status_id"]
    assert ticket.assignee_id == record["assignee"]["id"] and ticket.tags == (record["tags"][0]["name"],)
    assert ticket.requester is not None and ticket.requester.email == record["recipient"]["handle"]
