"""End to end over loopback with Jira: the Jira simulator → signed webhook (X-Hub-Signature) →
gateway → queue → worker → write-back read from the simulator. Real SQLite, real HTTP, real models.

The customer (cara@customer.test, a JSM customer) raises issues through the platform API; deskhand
answers as the agent account. Statuses only ever move through workflow transitions (the simulator
refuses anything else), so the changelog shows the path taken.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from deskhand.demo.scenario import KB_DIR
from deskhand.gateway.app import create_app
from deskhand.knowledge import add_folder
from deskhand.model import Visibility
from deskhand.providers import open_connector
from deskhand.providers.connector import Connector
from deskhand.responder.modes import set_mode
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.sim import jira
from deskhand.sim.base import SimServer
from deskhand.sim.jira_limits import RateLimits
from deskhand.store import Store
from deskhand.testing.loop import drain, wait_for_event

SECRET = "pipeline-jira-secret"
AGENT = "557058:0a4f9c2e-agent-0001"
CONFIG = {
    "site": "acme",
    "email": jira.DEFAULT_EMAIL,
    "api_token": jira.DEFAULT_TOKEN,
    "webhook_secret": SECRET,
    "project": "SUP",
    "teams": f"Escalations={AGENT}",
}


@dataclass
class Env:
    rt: Runtime
    sim: jira.JiraSimServer
    customer: Connector
    config: dict[str, str]


@pytest.fixture
def env(store: Store, settings: Settings) -> Iterator[Env]:
    rt = Runtime(store, settings)
    gateway = SimServer(create_app(rt, workers=0)).start()
    sim = jira.start(
        webhook_url=f"{gateway.url}/webhooks/jira/sup",
        webhook_secret=SECRET,
        rate_limits=RateLimits.off(),
        webhook_delivery=jira.JiraWebhookDelivery(backoff_s=0.05, max_backoff_s=0.2),
    )
    config = {**CONFIG, "base_url": sim.url}
    store.save_account("sup", "jira", config)
    set_mode(store, "sup", "auto", actor="test")  # new accounts start in draft
    add_folder(store, "default", KB_DIR)
    customer = open_connector("jira", "customer", {**config, "email": "cara@customer.test"})
    try:
        yield Env(rt, sim, customer, config)
    finally:
        customer.close()
        sim.stop()
        gateway.stop()
        rt.close()


def _create(env: Env, subject: str, body: str) -> str:
    key = env.customer.create_ticket(subject=subject, body=body).id
    _wait_for_event(env, key)
    return key


def _wait_for_event(env: Env, key: str, kind: str = "ticket_created") -> None:
    wait_for_event(env.rt, key, kind)


def _drain(env: Env) -> None:
    drain(env.rt, lease_s=2)


def _decision(env: Env, key: str) -> dict[str, Any]:
    (d,) = [d for d in env.rt.store.list_decisions(ticket_id=key) if d["route"] != "ignore"]
    return d


def _status_path(env: Env, key: str) -> list[str]:
    issue = env.sim.state.issue(key)
    assert issue is not None
    return [i["toString"] for c in issue.changelog for i in c.items if i["field"] == "status"]


def test_an_auto_reply_is_public_and_moves_the_issue_to_waiting_for_customer(env: Env) -> None:
    key = _create(env, "How do I reset my password?", "I forgot my password and cannot sign in. How do I reset it?")
    _drain(env)
    d = _decision(env, key)
    assert d["route"] == "auto_reply", d["reasons"]
    (reply,) = [c for c in env.customer.list_comments(key) if c.author_id == AGENT]
    assert reply.visibility is Visibility.PUBLIC and "Forgot password" in reply.body
    ticket = env.customer.get_ticket(key, with_comments=False)
    assert (ticket.raw_status, ticket.status.value) == ("Waiting for customer", "pending")
    assert _status_path(env, key) == ["Waiting for customer"]  # one transition, straight from Open


def test_our_reply_echoing_back_is_ignored(env: Env) -> None:
    key = _create(env, "How do I reset my password?", "I forgot my password. How do I reset it?")
    _drain(env)
    _wait_for_event(env, key, kind="comment_added")
    _drain(env)
    routes = sorted(d["route"] for d in env.rt.store.list_decisions(ticket_id=key))
    assert routes == ["auto_reply", "ignore"]
    assert len([c for c in env.customer.list_comments(key) if c.author_id == AGENT]) == 1


def test_a_draft_is_an_internal_jsm_comment(env: Env, store: Store) -> None:
    set_mode(store, "sup", "draft", actor="test")
    key = _create(env, "How do I reset my password?", "I forgot my password and cannot sign in. How do I reset it?")
    _drain(env)
    assert _decision(env, key)["route"] == "draft"
    (note,) = env.customer.list_comments(key)
    assert note.author_id == AGENT and note.visibility is Visibility.INTERNAL
    assert note.body.startswith("deskhand draft (internal")
    assert env.sim.state.issue(key).comments[0].internal  # JSM keeps it from the customer
    assert _status_path(env, key) == []


def test_an_outage_goes_to_the_escalation_person_with_a_label_and_an_internal_note(env: Env) -> None:
    key = _create(env, "Everything is down", "The app is down for everyone, all requests fail with 503.")
    _drain(env)
    d = _decision(env, key)
    assert d["route"] == "human" and "outage_wording" in d["rules"]
    ticket = env.customer.get_ticket(key)
    assert ticket.assignee_id == AGENT and "deskhand_escalated" in ticket.tags
    (note,) = ticket.comments
    assert note.visibility is Visibility.INTERNAL and "outage" in note.body


def test_a_webhook_with_a_wrong_signature_is_rejected_with_no_side_effect(env: Env) -> None:
    import httpx

    gateway_url = env.sim.webhooks.url
    body = b'{"webhookEvent":"jira:issue_created","issue":{"key":"SUP-99"},"timestamp":1}'
    headers = {
        "X-Hub-Signature": "sha256=" + "0" * 64,
        "X-Atlassian-Webhook-Identifier": "forged-1",
        "Content-Type": "application/json",
    }
    response = httpx.post(gateway_url, content=body, headers=headers)
    assert response.status_code == 401
    assert not [e for e in env.rt.store.list_events() if e.event.ticket_id == "SUP-99"]
