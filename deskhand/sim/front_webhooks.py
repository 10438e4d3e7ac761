"""Front's application webhooks in the simulator (FACTS.md §4.5, dev.frontapp.com/docs/application-webhooks).

Saving a webhook URL sends a validation request (body ``{"type": "sync", "authorization": {"id":
<company>}}`` with ``x-front-challenge``); the receiver must answer 200 echoing the challenge, or the
subscription is not made. Every event is then sent whole (the conversation with its recipient, tags and
last message, and the target message or comment: Front's docs say application webhooks send the full
event, and the recorded deliveries in tests/data/captures/front are) in ``{"type": <subscription>,
"authorization": {"id"}, "payload": <event>}``,
where the envelope's ``type`` names the application-webhook subscription ("inbound_received" for an
``inbound`` event, "conversation_archived" for ``archive``: real deliveries, tests/data/captures/front)
and the event's own type is ``payload.type``;
signed ``x-front-signature = base64(HMAC-SHA256(signing key, "<x-front-request-timestamp>:<body>"))``
with the timestamp in milliseconds. Failed deliveries are retried with backoff.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from typing import Any

import httpx

from deskhand.sim.base import WebhookDelivery
from deskhand.sim.front_records import Render
from deskhand.sim.front_state import FrontState


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Front's application-webhook signature of ``body`` sent at ``timestamp`` (ms, as a string)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b":" + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed(secret: str, body: bytes, now: float) -> dict[str, str]:
    timestamp = str(int(now * 1000))
    return {"content-type": "application/json", "x-front-request-timestamp": timestamp,
            "x-front-signature": signature(secret, timestamp, body)}


# The application-webhook subscription each event type is delivered under. Seen in real deliveries:
# inbound and archive; the others follow the names Front's app settings list [U].
SUBSCRIPTIONS = {"inbound": "inbound_received", "archive": "conversation_archived",
                 "outbound": "outbound_sent", "out_reply": "outbound_sent", "comment": "new_comment_added",
                 "mention": "new_comment_added", "assign": "assignee_changed", "unassign": "assignee_changed",
                 "tag": "tag_added", "untag": "tag_removed", "move": "conversation_moved",
                 "reopen": "conversation_reopened", "trash": "conversation_deleted",
                 "restore": "conversation_restored", "ticket_status_update": "ticket_status_updated"}


def envelope(state: FrontState, render: Render, event: dict[str, Any]) -> bytes:
    kind = SUBSCRIPTIONS.get(event["type"], event["type"])
    return json.dumps({"type": kind, "authorization": {"id": state.company_id},
                       "payload": render.event(event)}).encode()


def validate(url: str, secret: str, company_id: str, now: float, *,
             transport: httpx.BaseTransport | None = None) -> bool | None:
    """The validation request Front sends when a webhook URL is saved: True when the challenge came back,
    False when the receiver answered without it, None when it could not be reached (or answered 5xx)."""
    challenge = secrets.token_hex(16)
    body = json.dumps({"type": "sync", "authorization": {"id": company_id}}).encode()
    headers = {**signed(secret, body, now), "x-front-challenge": challenge}
    try:
        with httpx.Client(timeout=10.0, transport=transport) as client:
            response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError:
        return None
    if response.status_code >= 500:
        return None
    if response.status_code != 200:
        return False
    if response.text.strip() == challenge or response.headers.get("x-front-challenge") == challenge:
        return True
    try:
        return bool(response.json().get("challenge") == challenge)
    except (ValueError, AttributeError):
        return False


class Subscriber:
    """One application webhook: every event of the company, signed with ``secret``, sent to ``url``."""

    def __init__(self, state: FrontState, root: Callable[[], str], url: str, secret: str, delivery: WebhookDelivery):
        self.state, self.root, self.url, self.secret, self.delivery = state, root, url, secret, delivery

    def __call__(self, event: dict[str, Any]) -> None:
        body = envelope(self.state, Render(self.state, self.root()), event)
        self.delivery.send(self.url, body, signed(self.secret, body, self.state.clock()))
