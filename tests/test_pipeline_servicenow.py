"""End to end over loopback with ServiceNow: the simulator's business rule → signed webhook → gateway
→ queue → worker → write-back read from the simulator. Real SQLite, real HTTP, the real offline models.

The caller (Carla Customer) raises incidents through self-service (the simulator's state, as the
instance records them); deskhand answers as the integration user ``admin``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from deskhand.demo.scenario import KB_DIR
from deskhand.gateway.app import create_app
from deskhand.knowledge import add_folder
from deskhand.model import Status, Visibility
from deskhand.providers import open_connector
from deskhand.providers.connector import Connector
from deskhand.responder.modes import set_mode
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.sim import registry
from deskhand.sim.base import SimServer
from deskhand.sim.registry import RunningSim, SimConfig
from deskhand.sim.servicenow_webhooks import headers as signed_headers
from deskhand.store import Store
from deskhand.testing.loop import count_events, drain, wait_for_event

SECRET = "pipeline-servicenow-secret"


@dataclass
class Env:
    rt: Runtime
    sim: RunningSim
    agent: Connector
    hook_url: str


@pytest.fixture
def env(store: Store, settings: Settings) -> Iterator[Env]:
    rt = Runtime(store, settings)
    gateway = SimServer(create_app(rt, workers=0)).start()
    hook_url = f"{gateway.url}/webhooks/servicenow/itsm"
    spec = registry.get("servicenow")
    sim = spec.start(SimConfig(webhook_url=hook_url, webhook_secret=SECRET))
    config = spec.connect_to(sim)
    store.save_account("itsm", "servicenow", config)
    set_mode(store, "itsm", "auto", actor="test")  # new accounts start in draft
    add_folder(store, "default", KB_DIR)
    agent = open_connector("servicenow", "check", config)
    try:
        yield Env(rt, sim, agent, hook_url)
    finally:
        agent.close()
        sim.stop()
        gateway.stop()
        rt.close()


def _create(env: Env, subject: str, body: str) -> str:
    caller = env.sim.state.user("customer")
    row = env.sim.state.create_incident({"short_description": subject, "description": body,
                                         "caller_id": caller["sys_id"]}, "customer")
    wait_for_event(env.rt, row["sys_id"], "ticket_created")
    return str(row["sys_id"])


def _decision(env: Env, tid: str) -> dict[str, Any]:
    (d,) = [d for d in env.rt.store.list_decisions(ticket_id=tid) if d["route"] != "ignore"]
    return d


def _ours(env: Env, tid: str) -> list[Any]:
    me = env.agent.current_user().id
    return [c for c in env.agent.list_comments(tid) if c.author_id == me]


def test_an_auto_reply_is_an_additional_comment_and_the_incident_awaits_the_caller(env: Env) -> None:
    tid = _create(env, "How do I reset my password?", "I forgot my password and cannot sign in. How do I reset it?")
    drain(env.rt, lease_s=2)
    assert _decision(env, tid)["route"] == "auto_reply"
    (reply,) = _ours(env, tid)
    assert reply.visibility is Visibility.PUBLIC and "Forgot password" in reply.body
    assert [j["element"] for j in env.sim.state.journal(tid)] == ["comments"]
    row = env.sim.state.tables["incident"][tid]
    assert (row["state"], row["hold_reason"]) == ("3", "1")
    assert env.agent.get_ticket(tid, with_comments=False).status is Status.PENDING


def test_a_draft_is_a_work_note_and_nothing_reaches_the_caller(env: Env, store: Store) -> None:
    set_mode(store, "itsm", "draft", actor="test")
    tid = _create(env, "How do I reset my password?", "I forgot my password and cannot sign in. How do I reset it?")
    drain(env.rt, lease_s=2)
    assert _decision(env, tid)["route"] == "draft"
    (note,) = _ours(env, tid)
    assert note.visibility is Visibility.INTERNAL and note.body.startswith("deskhand draft (internal")
    assert [j["element"] for j in env.sim.state.journal(tid)] == ["work_notes"]
    assert env.sim.state.tables["incident"][tid]["state"] == "1"  # state untouched


def test_an_outage_goes_to_the_escalations_group_with_a_tag_and_a_work_note(env: Env) -> None:
    tid = _create(env, "Everything is down", "The app is down for everyone, all requests fail with 503.")
    drain(env.rt, lease_s=2)
    d = _decision(env, tid)
    assert d["route"] == "human" and "outage_wording" in d["rules"]
    ticket = env.agent.get_ticket(tid)
    groups = {t.name: t.id for t in env.agent.list_teams()}
    assert ticket.team_id == groups["Escalations"] and "deskhand_escalated" in ticket.tags
    (note,) = _ours(env, tid)
    assert note.visibility is Visibility.INTERNAL and "outage" in note.body


def test_the_callers_follow_up_is_answered_and_our_own_comment_is_ignored(env: Env, store: Store) -> None:
    set_mode(store, "itsm", "draft", actor="test")
    tid = _create(env, "How do I reset my password?", "I forgot my password and cannot sign in. How do I reset it?")
    drain(env.rt, lease_s=2)
    wait_for_event(env.rt, tid, "comment_added")  # our own work note, echoed by the business rule
    drain(env.rt, lease_s=2)
    seen = {d["id"] for d in env.rt.store.list_decisions(ticket_id=tid)}
    before = count_events(env.rt, tid, "comment_added")
    env.sim.state.update_incident(tid, {"comments": "Thanks. And how do I export my data to CSV?"}, "customer")
    wait_for_event(env.rt, tid, "comment_added", more_than=before)
    drain(env.rt, lease_s=2)
    new = [d for d in env.rt.store.list_decisions(ticket_id=tid) if d["id"] not in seen]
    (answered,) = [d for d in new if d["route"] != "ignore"]
    assert answered["route"] == "draft", [d["reasons"] for d in new]
    notes = [j for j in env.sim.state.journal(tid) if j["element"] == "work_notes"]
    assert len(notes) == 2 and "export" in notes[-1]["value"].lower()


def _delivery(sys_id: str, sent_at: int) -> bytes:
    return json.dumps({"delivery_id": "d" * 32, "sent_at": sent_at, "event": "created",
                       "sys_id": sys_id, "table": "incident"}).encode()


@pytest.mark.parametrize("how", ["no_signature", "wrong_secret", "stale"])
def test_a_delivery_not_signed_with_the_secret_is_refused_and_stores_nothing(env: Env, how: str) -> None:
    body = _delivery("f" * 32, int(time.time()) - (3600 if how == "stale" else 0))
    sent = {"no_signature": {"Content-Type": "application/json"}, "wrong_secret": signed_headers("guess", body),
            "stale": signed_headers(SECRET, body)}[how]
    response = httpx.post(env.hook_url, content=body, headers=sent)
    assert response.status_code == 401, response.text
    assert not [e for e in env.rt.store.list_events() if e.event.ticket_id == "f" * 32]


@pytest.mark.parametrize("body", [b'{"event": "created", "sys_id": "ab', b'{"event": "created"}', b"[1, 2]"],
                         ids=["truncated", "no_sys_id", "not_an_object"])
def test_a_malformed_payload_is_refused_and_stores_nothing(env: Env, body: bytes) -> None:
    before = len(env.rt.store.list_events())
    response = httpx.post(env.hook_url, content=body, headers=signed_headers(SECRET, body))
    assert response.status_code in (400, 401), response.text
    assert len(env.rt.store.list_events()) == before


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Content-Type": "application/json", "Authorization": f"Basic {token}"}


def test_a_rule_sending_basic_auth_instead_of_a_signature_is_accepted(env: Env) -> None:
    """A business rule or flow that cannot compute an HMAC sends Basic auth with the secret as the
    password: the simulator's rule in basic mode sends only that, and the events arrive."""
    spec = registry.get("servicenow")
    basic = spec.start(SimConfig(webhook_url=env.hook_url, webhook_secret=SECRET, extras={"webhook_mode": "basic"}))
    try:
        caller = basic.state.user("customer")
        row = basic.state.create_incident({"short_description": "VPN", "description": "VPN drops every hour",
                                           "caller_id": caller["sys_id"]}, "customer")
        wait_for_event(env.rt, row["sys_id"], "ticket_created")
    finally:
        basic.stop()


@pytest.mark.parametrize(("user", "password", "account"), [
    ("servicenow", "guess", "itsm"), ("", "", "itsm"), ("someone", SECRET, "named"),
    ("flow.user", SECRET + "x", "named"),
], ids=["wrong_password", "empty", "wrong_user_name", "right_user_wrong_password"])
def test_basic_auth_with_wrong_credentials_is_refused_and_stores_nothing(
    env: Env, store: Store, user: str, password: str, account: str
) -> None:
    store.save_account("named", "servicenow", {**registry.get("servicenow").connect_to(env.sim),
                                               "webhook_username": "flow.user"})
    url = env.hook_url.replace("/itsm", f"/{account}")
    before = len(env.rt.store.list_events())
    body = _delivery("e" * 32, int(time.time()))
    response = httpx.post(url, content=body, headers=_basic(user, password))
    assert response.status_code == 401, response.text
    assert len(env.rt.store.list_events()) == before
    good = httpx.post(url, content=body, headers=_basic("flow.user", SECRET))  # the same delivery, right credentials
    assert good.status_code == 200, good.text
    assert count_events(env.rt, "e" * 32, "ticket_created") == 1
