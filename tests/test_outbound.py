"""Outbound unified webhooks: signed by the Standard Webhooks scheme (checked with the
`standardwebhooks` package), durable across a receiver outage and a crashed deliverer, the same
webhook-id on every attempt, and an endpoint failing for too long disabled with an event saying so.
Time is a clock the test moves; nothing sleeps."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from deskhand import outbound
from deskhand.api.keys import create_key
from deskhand.gateway.app import create_app
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.store import Store
from deskhand.testing.loop import sim_loop


class Receiver:
    """A webhook consumer on loopback that can be down (answers 503) and logs every attempt."""

    def __init__(self) -> None:
        self.down = False
        self.attempts: list[tuple[dict[str, str], bytes, int]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                code = 503 if outer.down else 204
                outer.attempts.append(({k.lower(): v for k, v in self.headers.items()}, body, code))
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for h, b, code in self.attempts if code < 300]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Clock:
    """Starts at the wall clock (the verifier accepts timestamps within 5 minutes of it); tests move it
    by seconds."""

    def __init__(self) -> None:
        self.at = time.time()

    def __call__(self) -> float:
        return self.at


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def rt(store: Store) -> Iterator[Runtime]:
    runtime = Runtime(store)
    yield runtime
    runtime.close()


@pytest.mark.every_backend
def test_events_sent_while_the_receiver_is_down_arrive_signed_with_stable_ids(rt: Runtime, receiver: Receiver) -> None:
    ep, secret = outbound.create_endpoint(rt, "t", receiver.url, ["ticket.created", "decision.made"])
    clock = Clock()
    for n in range(3):
        outbound.publish(rt, "t", "ticket.created", {"ticket_id": f"acme:{n}"}, source=f"event:{n}", now=clock())
    outbound.publish(rt, "t", "ticket.updated", {"ticket_id": "acme:0"}, source="event:99", now=clock())  # unwanted
    deliverer = outbound.Deliverer(rt, clock=clock, backoff_s=(5.0, 60.0))
    receiver.down = True
    assert deliverer.run_once() == {"delivered": 0, "failed": 3, "dead": 0}
    clock.at += 1
    assert deliverer.run_once() == {"delivered": 0, "failed": 0, "dead": 0}  # not due before its backoff
    receiver.down = False
    clock.at += 5
    assert deliverer.run_once() == {"delivered": 3, "failed": 0, "dead": 0}
    assert deliverer.run_once() == {"delivered": 0, "failed": 0, "dead": 0}

    failed_ids = [h["webhook-id"] for h, _, code in receiver.attempts if code == 503]
    delivered = receiver.delivered()
    assert sorted(failed_ids) == sorted(h["webhook-id"] for h, _ in delivered)
    verifier = Webhook(secret)
    got = sorted(verifier.verify(body, headers)["data"]["ticket_id"] for headers, body in delivered)
    assert got == ["acme:0", "acme:1", "acme:2"]
    assert all(h["webhook-signature"].startswith("v1,") for h, _ in delivered)
    rows = outbound.messages(rt, "t", ep)
    assert {r["status"] for r in rows} == {"delivered"} and {r["attempts"] for r in rows} == {2}


@pytest.mark.every_backend
def test_a_tampered_body_fails_verification(rt: Runtime, receiver: Receiver) -> None:
    _, secret = outbound.create_endpoint(rt, "t", receiver.url, ["decision.made"])
    outbound.publish(rt, "t", "decision.made", {"decision_id": 1}, source="decision:1")
    outbound.Deliverer(rt, clock=Clock(), backoff_s=(5.0,)).run_once()
    ((headers, body),) = receiver.delivered()
    with pytest.raises(Exception, match=r"(?i)signature"):
        Webhook(secret).verify(body.replace(b"1", b"2"), headers)


@pytest.mark.every_backend
def test_publishing_the_same_fact_twice_queues_it_once(rt: Runtime, receiver: Receiver) -> None:
    outbound.create_endpoint(rt, "t", receiver.url, ["decision.made"])
    assert outbound.publish(rt, "t", "decision.made", {"decision_id": 7}, source="decision:7") == 1
    assert outbound.publish(rt, "t", "decision.made", {"decision_id": 7}, source="decision:7") == 0


@pytest.mark.every_backend
def test_a_deliverer_killed_mid_delivery_loses_nothing(rt: Runtime, receiver: Receiver) -> None:
    outbound.create_endpoint(rt, "t", receiver.url, ["ticket.created"])
    outbound.publish(rt, "t", "ticket.created", {"ticket_id": "acme:1"}, source="event:1")
    clock = Clock()
    crashed = outbound.Deliverer(rt, clock=clock)
    (taken,) = crashed.claim()  # leased, then the process is "killed" before sending
    other = outbound.Deliverer(rt, clock=clock)
    assert other.run_once()["delivered"] == 0  # leased: not sent twice at once
    clock.at += outbound.LEASE_S + 1
    assert other.run_once()["delivered"] == 1
    assert [h["webhook-id"] for h, _ in receiver.delivered()] == [taken["id"]]


@pytest.mark.every_backend
def test_an_endpoint_failing_too_long_is_disabled_with_an_event_saying_so(rt: Runtime, receiver: Receiver) -> None:
    broken, _ = outbound.create_endpoint(rt, "t", "http://127.0.0.1:9/nobody-listens", ["ticket.created"])
    watcher, secret = outbound.create_endpoint(rt, "t", receiver.url, ["endpoint.disabled"])
    clock = Clock()
    deliverer = outbound.Deliverer(rt, clock=clock, backoff_s=(10.0,) * 20, disable_after_s=100.0)
    outbound.publish(rt, "t", "ticket.created", {"ticket_id": "acme:1"}, source="event:1", now=clock())
    for _ in range(12):
        deliverer.run_once()
        clock.at += 10
    (ep,) = [e for e in outbound.list_endpoints(rt, "t") if e["id"] == broken]
    assert ep["status"] == "disabled" and "no successful delivery" in ep["disabled_reason"]
    ((headers, body),) = receiver.delivered()
    event = Webhook(secret).verify(body, headers)
    assert event["type"] == "endpoint.disabled" and event["data"]["endpoint_id"] == broken
    assert watcher != broken


@pytest.mark.every_backend
def test_webhook_endpoints_over_the_api_are_per_tenant(rt: Runtime, store: Store, receiver: Receiver) -> None:
    _, key = create_key(store.engine, "t", ["admin"])
    _, other = create_key(store.engine, "u", ["admin"])
    _, reader = create_key(store.engine, "t", ["tickets:read"])
    with TestClient(create_app(rt)) as client:
        made = client.post("/v1/webhooks", headers={"Authorization": f"Bearer {key}"},
                           json={"url": receiver.url, "events": ["ticket.created"]})
        assert made.status_code == 201, made.text
        assert made.json()["secret"].startswith("whsec_")
        ep = made.json()["id"]
        assert client.get("/v1/webhooks", headers={"Authorization": f"Bearer {other}"}).json()["data"] == []
        assert client.get(f"/v1/webhooks/{ep}/messages",
                          headers={"Authorization": f"Bearer {other}"}).status_code == 404
        assert client.get("/v1/webhooks", headers={"Authorization": f"Bearer {reader}"}).status_code == 403
        bad = client.post("/v1/webhooks", headers={"Authorization": f"Bearer {key}"},
                          json={"url": receiver.url, "events": ["ticket.exploded"]})
        assert bad.status_code == 422
        listed = client.get("/v1/webhooks", headers={"Authorization": f"Bearer {key}"}).json()["data"]
        assert [e["id"] for e in listed] == [ep] and "secret" not in listed[0]


def test_the_responder_publishes_ticket_decision_and_action_events(store: Store, settings: Settings,
                                                                  receiver: Receiver) -> None:
    with sim_loop("zendesk", store, settings, mode="draft") as loop:
        ep, _ = outbound.create_endpoint(loop.rt, "default", receiver.url,
                                         ["ticket.created", "decision.made", "action.performed"])
        tid = loop.create("How do I reset my password?", "I forgot my password. How do I reset it?")
        loop.drain()
        kinds: dict[str, list[dict[str, Any]]] = {}
        for row in outbound.messages(loop.rt, "default", ep):
            kinds.setdefault(row["event_type"], []).append(row["payload"]["data"])
    assert [d["ticket_id"] for d in kinds["ticket.created"]] == [f"acme:{tid}"]
    assert [d["route"] for d in kinds["decision.made"]] == ["draft"]  # not `ignore` (our own note's echo)
    assert "note" in [d["action"] for d in kinds["action.performed"]]
