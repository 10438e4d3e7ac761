"""The webhook gateway: only valid deliveries are recorded, each once, and nothing else changes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from deskhand.gateway.app import create_app
from deskhand.runtime import Runtime
from deskhand.store import Store

pytestmark = pytest.mark.every_backend

SECRET = "whsec-test-1234"
URL = "/webhooks/zendesk/acme"


def _payload(event_id: str = "01HZX0EVENT", ticket: str = "42") -> bytes:
    body = {
        "type": "zen:event-type:ticket.created",
        "account_id": 12514403,
        "id": event_id,
        "time": "2026-11-25T10:00:00Z",
        "zendesk_event_version": "2022-06-20",
        "subject": f"zen:ticket:{ticket}",
        "detail": {"id": ticket, "subject": "How do I reset my password?", "status": "NEW", "requester_id": "9"},
        "event": {},
    }
    return json.dumps(body).encode()


def _signed(body: bytes, *, secret: str = SECRET, when: datetime | None = None) -> dict[str, str]:
    ts = (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    sig = base64.b64encode(hmac.new(secret.encode(), ts.encode() + body, hashlib.sha256).digest()).decode()
    return {
        "content-type": "application/json",
        "x-zendesk-webhook-signature": sig,
        "x-zendesk-webhook-signature-timestamp": ts,
    }


@pytest.fixture
def client(store: Store) -> TestClient:
    store.save_account(
        "acme",
        "zendesk",
        {
            "subdomain": "acme",
            "email": "a@acme.test",
            "api_token": "t",
            "webhook_secret": SECRET,
            "base_url": "http://127.0.0.1:9",
        },
    )
    return TestClient(create_app(Runtime(store)))


def _counts(store: Store) -> tuple[int, dict[str, int]]:
    return len(store.list_events()), Runtime(store).queue.counts()


def test_a_signed_webhook_is_recorded_and_queued(client: TestClient, store: Store) -> None:
    body = _payload()
    r = client.post(URL, content=body, headers=_signed(body))
    assert r.status_code == 200, r.text
    assert len(r.json()["accepted"]) == 1
    (ev,) = store.list_events()
    assert (ev.event.kind.value, ev.event.ticket_id, ev.event.delivery_id) == ("ticket_created", "42", "01HZX0EVENT")
    assert _counts(store) == (1, {"queued": 1})


def test_a_repeated_delivery_is_recorded_once(client: TestClient, store: Store) -> None:
    body = _payload()
    for _ in range(3):
        assert client.post(URL, content=body, headers=_signed(body)).status_code == 200
    r = client.post(URL, content=body, headers=_signed(body))
    assert r.json() == {"accepted": [], "duplicates": 1, "ignored": False}
    assert _counts(store) == (1, {"queued": 1})


@pytest.mark.parametrize(
    "mangle",
    [
        lambda body, h: (body, {"content-type": "application/json"}),
        lambda body, h: (body.replace(b"42", b"43"), h),
        lambda body, h: (body, {**h, "x-zendesk-webhook-signature": base64.b64encode(b"x" * 32).decode()}),
        lambda body, h: (body, _signed(body, when=datetime.now(UTC) - timedelta(minutes=30))),
        lambda body, h: (body, _signed(body, secret="someone-else")),
    ],
    ids=["unsigned", "tampered-body", "wrong-signature", "stale-timestamp", "wrong-secret"],
)
def test_invalid_signatures_are_401_and_change_nothing(client: TestClient, store: Store, mangle) -> None:
    body = _payload()
    sent_body, headers = mangle(body, _signed(body))
    r = client.post(URL, content=sent_body, headers=headers)
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "bad_signature"
    assert _counts(store) == (0, {})


def test_a_signed_body_that_is_not_a_payload_is_400(client: TestClient, store: Store) -> None:
    body = b"this is not json"
    r = client.post(URL, content=body, headers=_signed(body))
    assert r.status_code == 400
    assert _counts(store) == (0, {})


@pytest.mark.parametrize("url", ["/webhooks/zendesk/nobody", "/webhooks/jira/acme"], ids=["account", "provider"])
def test_unknown_account_is_404(client: TestClient, store: Store, url: str) -> None:
    body = _payload()
    assert client.post(url, content=body, headers=_signed(body)).status_code == 404
    assert _counts(store) == (0, {})


def test_unknown_event_types_are_acknowledged_and_ignored(client: TestClient, store: Store) -> None:
    body = json.dumps({"type": "zen:event-type:user.active_changed", "id": "u1", "detail": {"id": "5"}}).encode()
    r = client.post(URL, content=body, headers=_signed(body))
    assert r.status_code == 200 and r.json()["ignored"] is True
    assert _counts(store) == (0, {})


def test_health(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
