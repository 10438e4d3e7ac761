"""Jira admin webhooks from the simulator: payloads, signature, Jira's retry policy.

Payloads use the REST v2 representation (wiki-markup descriptions, `/rest/api/2/` self links) as
real admin webhooks do. Headers: `X-Atlassian-Webhook-Identifier` (one per delivery, the same on
every retry), `X-Atlassian-Webhook-Flow: Primary`, `X-Atlassian-Webhook-Retry: N` on retries only,
and `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)>` when a secret is configured.
Retried (FACTS §2.6) on 408, 409, 425, 429, 5xx and connection failures, up to 5 retries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from deskhand.sim.base import Invocation, WebhookDelivery

log = logging.getLogger(__name__)

RETRY_STATUSES = {408, 409, 425, 429}
EVENTS = ("jira:issue_created", "jira:issue_updated", "comment_created")


def jira_retry_delay(status: int | None, headers: Mapping[str, str], attempt: int, *,
                     backoff_s: float, max_backoff_s: float) -> float | None:
    """Seconds before the next try after `attempt` (1-based) got `status`; None = final."""
    if status is not None and (200 <= status < 300 or (status < 500 and status not in RETRY_STATUSES)):
        return None
    raw = headers.get("retry-after")
    if raw is not None:
        try:
            return min(max_backoff_s, max(0.0, float(raw)))
        except ValueError:
            pass
    return min(max_backoff_s, backoff_s * 2 ** (attempt - 1))


def retry_header(inv: Invocation) -> dict[str, str]:
    """`X-Atlassian-Webhook-Retry: N` on the N-th retry (absent on the first try)."""
    return {"X-Atlassian-Webhook-Retry": str(len(inv.attempts))} if inv.attempts else {}


class JiraWebhookDelivery(WebhookDelivery):
    """base.WebhookDelivery with Jira's retry statuses and the per-retry `X-Atlassian-Webhook-Retry`."""

    def __init__(self, **kw: Any) -> None:
        kw.setdefault("retry_policy", jira_retry_delay)
        kw.setdefault("attempt_headers", retry_header)
        super().__init__(**kw)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhooks:
    """Builds and sends events to one admin webhook URL (None: events are only recorded)."""

    def __init__(self, url: str | None, secret: str | None, *, events: tuple[str, ...] = EVENTS,
                 delivery: WebhookDelivery | None = None):
        self.url = url
        self.secret = secret
        self.events = set(events)
        self.sent: list[dict[str, Any]] = []  # every payload built, delivered or not
        self.delivery = delivery if delivery is not None or url is None else JiraWebhookDelivery(
            max_attempts=6, backoff_s=1.0, max_backoff_s=30.0)

    def emit(self, event: str, payload: dict[str, Any]) -> Invocation | None:
        if event not in self.events:
            return None
        self.sent.append(payload)
        if self.url is None or self.delivery is None:
            return None
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Atlassian Webhook HTTP Client",
            "X-Atlassian-Webhook-Identifier": str(uuid.uuid4()),
            "X-Atlassian-Webhook-Flow": "Primary",
        }
        if self.secret:
            headers["X-Hub-Signature"] = sign(self.secret, body)
        return self.delivery.send(self.url, body, headers)

    def close(self) -> None:
        if self.delivery is not None:
            self.delivery.close()
