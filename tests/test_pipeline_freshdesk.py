"""End to end over loopback with Freshdesk: the Freshdesk simulator's automation rules → webhook with
the shared secret header → gateway → queue → worker → write-back read from the simulator. Real
SQLite, real HTTP, the real offline models.

The customer (cara@customer.test) writes in through the portal (the simulator's state, as Freshdesk
itself records it); deskhand answers as the agent whose API key it holds.
"""

from __future__ import annotations

import base64
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
from deskhand.sim import freshdesk
from deskhand.sim.base import SimServer
from deskhand.store import Store
from deskhand.testing.loop import count_events, drain, wait_for_event

SECRET = "pipeline-freshdesk-secret"


@dataclass
class Env:
    rt: Runtime
    sim: freshdesk.FreshdeskSim
    agent: Connector
    hook_url: str


@pytest.fixture
def env(store: Store, settings: Settings) -> Iterator[Env]:
    rt = Runtime(store, settings)
    gateway = SimServer(create_app(rt, workers=0)).start()
    hook_url = f"{gateway.url}/webhooks/freshdesk/help"
    sim = freshdesk.start(webhook_url=hook_url, webhook_secret=SECRET, rate_limit=10**6, retry_scale=1e-3)
    config = {"domain": "acme", "api_key": freshdesk.DEFAULT_API_KEY, "base_url": sim.url, "webhook_secret": SECRET}
    store.save_account("help", "freshdesk", config)
    set_mode(store, "help", "auto", actor="test")  # new accounts start in draft
    add_folder(store, "default", KB_DIR)
    agent = open_connector("freshdesk", "check", config)
    try:
        yield Env(rt, sim, agent, hook_url)
    finally:
        agent.close()
        sim.stop()
        gateway.stop()
        rt.close()


def _create(env: Env, subject: str, body: str) -> str:
    ticket = env.sim.state.create_ticket({"subject": subject, "description": body, "email": "cara@customer.test",
                                          "name": "Cara Customer"})
    tid = str(ticket["id"])
    wait_for_event(env.rt, tid, "ticket_created")
    return tid


def _decision(env: Env, tid: str) -> dict[str, Any]:
    (d,) = [d for d in env.rt.store.list_decisions(ticket_id=tid) if d["route"] != "ignore"]
    return d


def _ours(env: Env, tid: str) -> list[Any]:
    me = env.agent.current_user().id
    return [c for c in env.agent.list_comments(tid) if c.author_id == me]


def test_an_auto_reply_is_a_public_reply_and_the_ticket_goes_pending(env: Env) -> None:
    tid = _create(env, "How do I reset my password?", "I forgot my password and cannot sign in. How do I reset it?")
    drain(env.rt, lease_s=2)
    d = _decision(env, tid)
    assert d["route"] == "auto_reply", d["reasons"]
    (reply,) = _ours(env, tid)
    assert reply.visibility is Visibility.PUBLIC and "Forgot password" in reply.body
    held = env.sim.state.conversations[int(tid)][0]
    assert (held["source"], held["private"], held["to_emails"]) == (0, False, ["cara@customer.test"])
    ticket = env.agent.get_ticket(tid, with_comments=False)
    assert (ticket.raw_status, ticket.status) == ("3", Status.PENDING)


def test_a_draft_is_a_private_note_and_nothing_reaches_the_customer(env: Env, store: Store) -> None:
    set_mode(store, "help", "draft", actor="test")
    tid = _create(env, "How do I reset my password?", "I forgot my password and cannot sign in. How do I reset it?")
    drain(env.rt, lease_s=2)
    assert _decision(env, tid)["route"] == "draft"
    (note,) = _ours(env, tid)
    assert note.visibility is Visibility.INTERNAL and note.body.startswith("deskhand draft (internal")
    held = env.sim.state.conversations[int(tid)][0]
    assert (held["source"], held["private"]) == (2, True)
    assert env.agent.get_ticket(tid, with_comments=False).raw_status == "2"  # status untouched


def test_an_outage_goes_to_the_escalations_group_with_a_tag_and_a_private_note(env: Env) -> None:
    tid = _create(env, "Everything is down", "The app is down for everyone, all requests fail with 503.")
    drain(env.rt, lease_s=2)
    d = _decision(env, tid)
    assert d["route"] == "human" and "outage_wording" in d["rules"]
    ticket = env.agent.get_ticket(tid)
    groups = {t.name: t.id for t in env.agent.list_teams()}
    assert ticket.team_id == groups["Escalations"] and "deskhand_escalated" in ticket.tags
    (note,) = _ours(env, tid)
    assert note.visibility is Visibility.INTERNAL and "outage" in note.body


def test_our_reply_coming_back_through_the_conversation_rule_is_ignored(env: Env) -> None:
    tid = _create(env, "How do I reset my password?", "I forgot my password. How do I reset it?")
    drain(env.rt, lease_s=2)
    wait_for_event(env.rt, tid, "comment_added")
    drain(env.rt, lease_s=2)
    routes = sorted(d["route"] for d in env.rt.store.list_decisions(ticket_id=tid))
    assert routes.count("auto_reply") == 1 and len(_ours(env, tid)) == 1


def test_a_customer_follow_up_is_handled_though_the_webhook_names_no_comment(env: Env, store: Store) -> None:
    set_mode(store, "help", "draft", actor="test")  # drafts change no status: the follow-up is the only event
    tid = _create(env, "How do I reset my password?", "I forgot my password and cannot sign in. How do I reset it?")
    drain(env.rt, lease_s=2)
    wait_for_event(env.rt, tid, "comment_added")  # our draft note, echoed by the conversation rule
    drain(env.rt, lease_s=2)
    seen = {d["id"] for d in env.rt.store.list_decisions(ticket_id=tid)}
    requester = env.sim.state.tickets[int(tid)]["requester_id"]
    before = count_events(env.rt, tid, "comment_added")
    env.sim.state.reply(int(tid), {"body": "Thanks. And how do I export my data to CSV?", "user_id": requester},
                        requester)
    wait_for_event(env.rt, tid, "comment_added", more_than=before)
    drain(env.rt, lease_s=2)
    new = [d for d in env.rt.store.list_decisions(ticket_id=tid) if d["id"] not in seen]
    (answered,) = [d for d in new if d["route"] != "ignore"]  # (our new note's echo may be among them)
    assert answered["route"] == "draft", [d["reasons"] for d in new]
    notes = [c for c in env.sim.state.conversations[int(tid)] if c["private"]]
    assert len(notes) == 2 and "export" in notes[-1]["body_text"].lower()


@pytest.mark.parametrize("headers", [{}, {"X-Deskhand-Secret": "guess"}], ids=["no_secret", "wrong_secret"])
def test_a_webhook_without_the_secret_is_refused_and_stores_nothing(env: Env, headers: dict[str, str]) -> None:
    body = b'{"freshdesk_webhook": {"event": "ticket_created", "ticket_id": 999}}'
    response = httpx.post(env.hook_url, content=body, headers={"Content-Type": "application/json", **headers})
    assert response.status_code == 401
    assert not [e for e in env.rt.store.list_events() if e.event.ticket_id == "999"]


@pytest.mark.parametrize("body", [b'{"freshdesk_webhook": {"event": "ticket_created"', b'{"freshdesk_webhook": '
                                  b'{"event": "ticket_created"}}', b"[1, 2]"], ids=["truncated", "no_ticket_id",
                                                                                   "not_an_object"])
def test_a_malformed_payload_is_refused_and_stores_nothing(env: Env, body: bytes) -> None:
    before = len(env.rt.store.list_events())
    response = httpx.post(env.hook_url, content=body, headers={"Content-Type": "application/json",
                                                               "X-Deskhand-Secret": SECRET})
    assert response.status_code == 400, response.text
    assert len(env.rt.store.list_events()) == before


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Content-Type": "application/json", "Authorization": f"Basic {token}"}


def test_a_rule_sending_basic_auth_instead_of_the_header_is_accepted(env: Env, store: Store) -> None:
    """An admin may set the rule's Authentication to Basic (any user name, the secret as password)
    instead of the custom header: the simulator's rules then send only that, and the events arrive."""
    basic = freshdesk.start(webhook_url=env.hook_url, webhook_basic_auth=("deskhand", SECRET), rate_limit=10**6,
                            retry_scale=1e-3)
    try:
        ticket = basic.state.create_ticket({"subject": "Invoice copy", "description": "Where is my invoice?",
                                            "email": "cara@customer.test"})
        wait_for_event(env.rt, str(ticket["id"]), "ticket_created")
    finally:
        basic.stop()
    assert basic.rules and all(not rule.headers and rule.basic_auth for rule in basic.rules)  # Basic only


@pytest.mark.parametrize(("user", "password", "account"), [
    ("deskhand", "guess", "help"), ("", "", "help"), ("someone", SECRET, "named"), ("deskhand", SECRET + "x", "named"),
], ids=["wrong_password", "empty", "wrong_user_name", "right_user_wrong_password"])
def test_basic_auth_with_wrong_credentials_is_refused_and_stores_nothing(
    env: Env, store: Store, user: str, password: str, account: str
) -> None:
    store.save_account("named", "freshdesk", {"domain": "acme", "api_key": freshdesk.DEFAULT_API_KEY,
                                              "base_url": env.sim.url, "webhook_secret": SECRET,
                                              "webhook_username": "deskhand"})
    url = env.hook_url.replace("/help", f"/{account}")
    before = len(env.rt.store.list_events())
    body = b'{"freshdesk_webhook": {"event": "ticket_created", "ticket_id": 998}}'
    response = httpx.post(url, content=body, headers=_basic(user, password))
    assert response.status_code == 401, response.text
    assert len(env.rt.store.list_events()) == before
    good = httpx.post(url, content=body, headers=_basic("deskhand", SECRET))  # the same delivery, right credentials
    assert good.status_code == 200, good.text
    assert count_events(env.rt, "998", "ticket_created") == 1
