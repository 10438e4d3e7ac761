"""The ServiceNow definition and its hooks against the simulator: what data can't say, and bad input."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from deskhand.errors import AuthError, ProviderError, ResourceNotFound
from deskhand.model import Action, ActionKind, Priority, Status
from deskhand.providers import Connector, open_connector
from deskhand.providers.hooks import servicenow as hooks
from deskhand.sim import registry
from deskhand.sim.base import SimServer
from deskhand.sim.registry import RunningSim, SimConfig


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSim]:
    with registry.get("servicenow").start(SimConfig(tickets=10, seed=2)) as running:
        yield running


@pytest.fixture
def conn(sim: RunningSim) -> Iterator[Connector]:
    with open_connector("servicenow", "acme", registry.get("servicenow").connect_to(sim)) as connector:
        yield connector


@pytest.mark.parametrize(("record", "status"), [
    pytest.param({"state": {"value": "1"}}, "new", id="new"),
    pytest.param({"state": {"value": "2"}}, "open", id="in-progress"),
    pytest.param({"state": {"value": "3"}, "hold_reason": {"value": "1"}}, "pending", id="awaiting-caller"),
    pytest.param({"state": {"value": "3"}, "hold_reason": {"value": "4"}}, "on_hold", id="awaiting-vendor"),
    pytest.param({"state": "6"}, "solved", id="resolved-plain-value"),
    pytest.param({"state": {"value": "7"}}, "closed", id="closed"),
    pytest.param({"state": {"value": "8"}}, "closed", id="canceled"),
    pytest.param({"state": {"value": "42"}}, "open", id="custom-state-is-live"),
    pytest.param({}, None, id="no-state"),
])
def test_incident_status_reads_state_with_hold_reason(record: dict[str, Any], status: str | None) -> None:
    assert hooks.incident_status(record) == status


@pytest.mark.parametrize(("roles", "role"), [("admin,itil", "admin"), ("itil", "agent"), ("", "end_user"),
                                              ("snc_internal", "end_user")])
def test_user_role_from_roles(roles: str, role: str) -> None:
    assert hooks.user_role(roles) == role


def test_a_custom_state_reads_as_open_keeping_the_raw_state(sim: RunningSim, conn: Connector) -> None:
    row = sim.state.create_incident({"short_description": "Custom state"})
    sim.state.update_incident(row["sys_id"], {"state": "42"})
    got = conn.get_ticket(row["sys_id"], with_comments=False)
    assert (got.status, got.raw_status) == (Status.OPEN, "42")


def test_resolving_writes_the_close_code_and_notes_the_instance_requires(sim: RunningSim, conn: Connector) -> None:
    tid = conn.create_ticket(subject="Printer", body="Jammed", priority=Priority.LOW).id
    conn.perform(Action(ActionKind.SET_STATUS, tid, key="t:solve", params={"status": Status.SOLVED}))
    row = sim.state.tables["incident"][tid]
    assert (row["state"], row["priority"], bool(row["close_code"]), bool(row["close_notes"])) == ("6", "4", True, True)


def test_an_unknown_status_is_refused_before_anything_is_sent(sim: RunningSim, conn: Connector) -> None:
    tid = conn.create_ticket(subject="Printer", body="Jammed").id
    before = sim.state.tables["incident"][tid]["sys_mod_count"]
    with pytest.raises(ValueError, match="is not one of"):
        conn.perform(Action(ActionKind.SET_STATUS, tid, key="t:bad", params={"status": "escalated"}))
    assert sim.state.tables["incident"][tid]["sys_mod_count"] == before


def test_a_requester_email_becomes_the_caller_once(sim: RunningSim, conn: Connector) -> None:
    one = conn.create_ticket(subject="A", body="a", requester_email="new.caller@example.test", requester_name="New")
    two = conn.create_ticket(subject="B", body="b", requester_email="new.caller@example.test")
    callers = [u for u in sim.state.tables["sys_user"].values() if u["email"] == "new.caller@example.test"]
    assert one.requester and two.requester
    assert len(callers) == 1 and one.requester.id == two.requester.id == callers[0]["sys_id"]


def test_adding_a_tag_twice_keeps_one(sim: RunningSim, conn: Connector) -> None:
    tid = conn.create_ticket(subject="Tagged", body="x", tags=["vip"]).id
    conn.perform(Action(ActionKind.ADD_TAGS, tid, key="t:tag", params={"tags": ["VIP", "billing"]}))
    assert sorted(sim.state.tags(tid)) == ["billing", "vip"]


def test_wrong_credentials_are_an_auth_error(sim: RunningSim) -> None:
    config = {**registry.get("servicenow").connect_to(sim), "password": "wrong"}
    with open_connector("servicenow", "acme", config) as conn, pytest.raises(AuthError, match="User Not Authenticated"):
        conn.current_user()


def test_a_missing_incident_is_not_found(conn: Connector) -> None:
    with pytest.raises(ResourceNotFound):
        conn.get_ticket("0" * 32)


def test_an_instance_that_is_down_is_a_provider_error_naming_the_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = {"instance": "acme", "username": "admin", "password": "x", "base_url": f"http://127.0.0.1:{port}"}
    with open_connector("servicenow", "acme", config) as conn, pytest.raises(ProviderError, match="cannot connect"):
        conn.list_users()


def test_an_html_page_where_json_was_expected_is_refused() -> None:
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    async def login(request: Any) -> HTMLResponse:  # a hibernating developer instance answers with a page
        return HTMLResponse("<html><body>Your instance is hibernating. Sign in to wake it up.</body></html>")

    with SimServer(Starlette(routes=[Route("/api/now/table/{t}", login)])) as server:
        config = {"instance": "acme", "username": "admin", "password": "x", "base_url": server.url}
        with open_connector("servicenow", "acme", config) as conn, pytest.raises(ProviderError):
            conn.list_users()
