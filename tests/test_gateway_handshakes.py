"""The gateway's webhook route as the definitions say it: registration checks (HEAD/GET), challenge
echoes, callback-URL signatures, the freshness window (DESKHAND_WEBHOOK_TOLERANCE_S as the default)
and replays recognised as duplicates (issue 14, finding 5: Jira)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from deskhand.gateway.app import create_app
from deskhand.providers import definition
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.store import Store

SECRET = "whsec-handshake"
CONFIG = {"subdomain": "acme", "email": "a@acme.test", "api_token": "t", "webhook_secret": SECRET,
          "base_url": "http://127.0.0.1:9"}
TRELLO_LIKE = {  # Trello: HEAD check at registration, base64 HMAC-SHA1 of body + callback URL
    "verify": {"scheme": "hmac_sha1_base64", "signature_header": "x-trello-webhook", "signed": "{body}{callback_url}"},
    "type": "action.type",
    "delivery_id": {"path": "action.id"},
    "handshake": {"check": ["HEAD", "GET"]},
    "events": {"commentCard": {"kind": "comment_added", "ticket_id": "action.data.card.id", "comment_id": "action.id"}},
}
FRONT_LIKE = {  # Front application webhooks: a signed validation request with a challenge to echo
    "verify": {"scheme": "hmac_sha256_base64", "signature_header": "x-front-signature",
               "timestamp_header": "x-front-request-timestamp", "timestamp_unit": "ms", "signed": "{timestamp}:{body}"},
    "type": "type",
    "handshake": {"challenge": {"header": "x-front-challenge", "reply": ["json", "header"]}},
    "events": {"inbound": {"kind": "comment_added", "ticket_id": "conversation.id"}},
}


@pytest.fixture
def defs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The shipped definitions plus two test providers (a zendesk copy with another webhooks section)."""
    folder = tmp_path / "defs"
    folder.mkdir()
    for path in definition.DEFS_DIR.glob("*.yaml"):
        (folder / path.name).write_text(path.read_text())
    base = yaml.safe_load((definition.DEFS_DIR / "zendesk.yaml").read_text())
    for name, hooks in {"trellolike": TRELLO_LIKE, "frontlike": FRONT_LIKE}.items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump({**base, "name": name, "webhooks": hooks}))
    monkeypatch.setattr(definition, "DEFS_DIR", folder)
    definition.load.cache_clear()
    yield folder
    definition.load.cache_clear()


def client(store: Store, settings: Settings | None = None) -> TestClient:
    for provider in ("trellolike", "frontlike", "zendesk"):
        store.save_account(provider, provider, CONFIG)
    store.save_account("sup", "jira", {"site": "sup", "email": "a@sup.test", "api_token": "t",
                                       "webhook_secret": SECRET, "base_url": "http://127.0.0.1:9"})
    return TestClient(create_app(Runtime(store, settings)))


def nothing_recorded(store: Store) -> bool:
    return not store.list_events() and not Runtime(store).queue.counts()


# -- registration checks ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "url", "status"),
    [("HEAD", "/webhooks/trellolike/trellolike", 200), ("GET", "/webhooks/trellolike/trellolike", 200),
     ("HEAD", "/webhooks/trellolike/nobody", 404), ("HEAD", "/webhooks/zendesk/trellolike", 404),
     ("HEAD", "/webhooks/zendesk/zendesk", 405), ("GET", "/webhooks/frontlike/frontlike", 405)],
    ids=["head", "get", "unknown-account", "other-provider", "not-declared", "get-not-declared"],
)
def test_a_callback_check_is_answered_for_a_known_account_only(
    defs: Path, store: Store, method: str, url: str, status: int
) -> None:
    r = client(store).request(method, url)
    assert r.status_code == status
    assert nothing_recorded(store)


def test_a_delivery_signed_over_body_and_callback_url_is_accepted(defs: Path, store: Store) -> None:
    body = json.dumps({"action": {"id": "a1", "type": "commentCard", "data": {"card": {"id": "c9"}}}}).encode()
    url = "http://testserver/webhooks/trellolike/trellolike"

    def signed(callback: str) -> dict[str, str]:
        mac = hmac.new(SECRET.encode(), body + callback.encode(), hashlib.sha1).digest()
        return {"x-trello-webhook": base64.b64encode(mac).decode()}

    c = client(store)
    assert c.post(url, content=body, headers=signed("https://elsewhere.test/hook")).status_code == 401
    r = c.post(url, content=body, headers=signed(url))
    assert r.status_code == 200 and len(r.json()["accepted"]) == 1
    assert [e.event.delivery_id for e in store.list_events()] == ["a1"]


# -- challenge echo --------------------------------------------------------------------------------------
def front_headers(body: bytes, *, challenge: str | None = None, secret: str = SECRET) -> dict[str, str]:
    ts = str(int(time.time() * 1000))
    mac = hmac.new(secret.encode(), ts.encode() + b":" + body, hashlib.sha256).digest()
    headers = {"x-front-signature": base64.b64encode(mac).decode(), "x-front-request-timestamp": ts}
    return {**headers, "x-front-challenge": challenge} if challenge else headers


def test_a_signed_challenge_is_echoed_and_nothing_is_queued(defs: Path, store: Store) -> None:
    body = b'{"type":"sync","authorization":{"id":"cmp_abc"}}'
    r = client(store).post("/webhooks/frontlike/frontlike", content=body, headers=front_headers(body, challenge="k7q"))
    assert r.status_code == 200
    assert r.json() == {"challenge": "k7q"} and r.headers["x-front-challenge"] == "k7q"
    assert nothing_recorded(store)


def test_an_unsigned_challenge_is_refused(defs: Path, store: Store) -> None:
    body = b'{"type":"sync"}'
    r = client(store).post("/webhooks/frontlike/frontlike", content=body,
                           headers=front_headers(body, challenge="k7q", secret="guess"))
    assert r.status_code == 401 and "k7q" not in r.text
    assert nothing_recorded(store)


def test_a_delivery_without_a_challenge_is_recorded(defs: Path, store: Store) -> None:
    body = b'{"type":"inbound","conversation":{"id":"cnv_1"}}'
    r = client(store).post("/webhooks/frontlike/frontlike", content=body, headers=front_headers(body))
    assert r.status_code == 200 and len(r.json()["accepted"]) == 1


# -- the freshness window: the setting is the default --------------------------------------------------------
def zendesk_signed(body: bytes, when: datetime) -> dict[str, str]:
    ts = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    mac = hmac.new(SECRET.encode(), ts.encode() + body, hashlib.sha256).digest()
    return {"x-zendesk-webhook-signature": base64.b64encode(mac).decode(), "x-zendesk-webhook-signature-timestamp": ts}


@pytest.mark.parametrize(("tolerance_s", "status"), [(300, 401), (900, 200)], ids=["default-300", "setting-900"])
def test_the_tolerance_setting_is_the_default_window(
    defs: Path, store: Store, settings: Settings, tolerance_s: int, status: int
) -> None:
    body = json.dumps({"type": "zen:event-type:ticket.created", "id": "e-late", "detail": {"id": "5"}}).encode()
    c = client(store, settings.model_copy(update={"webhook_tolerance_s": tolerance_s}))
    late = zendesk_signed(body, datetime.now(UTC) - timedelta(seconds=600))
    r = c.post("/webhooks/zendesk/zendesk", content=body, headers=late)
    assert r.status_code == status, r.text


# -- issue 14, finding 5: Jira replays -----------------------------------------------------------------------
def jira_delivery(sent_at: datetime, identifier: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"timestamp": int(sent_at.timestamp() * 1000), "webhookEvent": "jira:issue_created",
                       "issue": {"key": "SUP-7", "fields": {"summary": "Printer on fire"}}}).encode()
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"x-hub-signature": sig, "x-atlassian-webhook-identifier": identifier}


def test_a_replayed_jira_body_is_one_event_whatever_its_unsigned_identifier(defs: Path, store: Store) -> None:
    body, headers = jira_delivery(datetime.now(UTC), "d-1")
    c = client(store)
    answers = [c.post("/webhooks/jira/sup", content=body,
                      headers={**headers, "x-atlassian-webhook-identifier": f"d-{n}"}) for n in range(4)]
    assert [r.status_code for r in answers] == [200] * 4
    assert [len(r.json()["accepted"]) for r in answers] == [1, 0, 0, 0]
    assert len(store.list_events()) == 1 and Runtime(store).queue.counts() == {"queued": 1}


def test_a_month_old_jira_body_is_refused(defs: Path, store: Store) -> None:
    body, headers = jira_delivery(datetime.now(UTC) - timedelta(days=30), "d-old")
    r = client(store).post("/webhooks/jira/sup", content=body, headers=headers)
    assert r.status_code == 401 and "old" in r.json()["message"]
    assert nothing_recorded(store)
