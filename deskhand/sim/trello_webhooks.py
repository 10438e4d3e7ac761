"""Trello webhooks: registration with a HEAD check of the callback, signed deliveries, retries (FACTS §7.4).

``POST /1/webhooks`` (or ``/1/tokens/{token}/webhooks``) with ``callbackURL``, ``idModel``,
``description``, ``active``: Trello first sends ``HEAD callbackURL`` and refuses the webhook (400)
unless it answers 200. A webhook belongs to the token that created it. Each action on its model (a
board, list or card) is POSTed as ``{"action", "model", "webhook"}`` with
``X-Trello-Webhook: base64(HMAC-SHA1(application secret, body + callbackURL))`` — the exact
callbackURL string given at creation. A failed delivery is retried 3 times, 30, 60 and 120 s apart
(times ``retry_scale``); ``consecutiveFailures`` counts deliveries that failed every attempt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import httpx

from deskhand.sim.base import Invocation, RetryPolicy, WebhookDelivery
from deskhand.sim.trello_state import TrelloError, TrelloState

RETRY_DELAYS_S = (30.0, 60.0, 120.0)


def signature(secret: str, body: bytes, callback_url: str) -> str:
    """``X-Trello-Webhook`` of one delivery."""
    digest = hmac.new(secret.encode(), body + callback_url.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def retry_policy(scale: float) -> RetryPolicy:
    def policy(status: int | None, headers: Mapping[str, str], attempt: int, *, backoff_s: float,
               max_backoff_s: float) -> float | None:
        if status is not None and 200 <= status < 300:
            return None
        return RETRY_DELAYS_S[attempt - 1] * scale if attempt <= len(RETRY_DELAYS_S) else None

    return policy


def delivery(retry_scale: float = 1.0) -> WebhookDelivery:
    return WebhookDelivery(max_attempts=len(RETRY_DELAYS_S) + 1, retry_policy=retry_policy(retry_scale))


def view(hook: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in hook.items() if not k.startswith("_")}


async def create(state: TrelloState, data: Mapping[str, Any], token: str, api_key: str,
                 head_timeout_s: float = 10.0) -> dict[str, Any]:
    """Register a webhook after the HEAD check of its callback (400 in Trello's words otherwise)."""
    callback, model = str(data.get("callbackURL") or ""), str(data.get("idModel") or "")
    if not callback.startswith(("http://", "https://")):
        raise TrelloError(400, "invalid value for callbackURL")
    with state.lock:
        if not any(model in table for table in (state.boards, state.lists, state.cards, state.members)):
            raise TrelloError(400, "invalid value for idModel")
        if any(h["callbackURL"] == callback and h["idModel"] == model and h["_token"] == token
               for h in state.webhooks.values()):
            raise TrelloError(400, "A webhook with that callback, model, and token already exists")
    try:
        async with httpx.AsyncClient(timeout=head_timeout_s, follow_redirects=False) as client:
            answer = await client.head(callback)
        status: int | str = answer.status_code
    except httpx.HTTPError as exc:
        status = type(exc).__name__
    if status != 200:
        raise TrelloError(400, f"URL ({callback}) did not return 200 status code, got {status}")
    with state.lock:
        hid = state.new_id()
        active = str(data.get("active", "true")).lower() != "false"
        state.webhooks[hid] = {"id": hid, "description": str(data.get("description") or ""), "idModel": model,
                               "callbackURL": callback, "active": active, "consecutiveFailures": 0,
                               "firstConsecutiveFailDate": None, "_token": token, "_key": api_key}
        return state.webhooks[hid]


def _models(action: dict[str, Any]) -> set[str]:
    data = action["data"]
    ids = {data.get(k, {}).get("id") for k in ("board", "card", "list", "listBefore", "listAfter")}
    return {i for i in ids if i}


class Dispatcher:
    """State listener: each active webhook whose model the action touches gets a signed delivery."""

    def __init__(self, state: TrelloState, sender: WebhookDelivery):
        self.state, self.sender = state, sender
        self.sent: list[tuple[str, Invocation]] = []  # (webhook id, invocation)

    def __call__(self, action: dict[str, Any]) -> None:
        touched = _models(action)
        for hook in list(self.state.webhooks.values()):
            if not hook["active"] or hook["idModel"] not in touched:
                continue
            model = self._model(hook["idModel"])
            body = json.dumps({"action": action, "model": model, "webhook": view(hook)}).encode()
            secret = self.state.app_secrets.get(hook["_key"], "")
            headers = {"content-type": "application/json", "user-agent": "Trello",
                       "x-trello-webhook": signature(secret, body, hook["callbackURL"])}
            try:
                self.sent.append((hook["id"], self.sender.send(hook["callbackURL"], body, headers)))
            except RuntimeError:  # the simulator is stopping
                return

    def _model(self, mid: str) -> dict[str, Any]:
        for table in (self.state.boards, self.state.lists, self.state.cards):
            if mid in table:
                return dict(table[mid])
        return {"id": mid}

    def record_failures(self) -> None:
        """Update each webhook's ``consecutiveFailures`` from the deliveries that gave up."""
        with self.state.lock:
            for hid, inv in self.sent:
                hook = self.state.webhooks.get(hid)
                if hook is None or inv.state == "pending" or inv.id in hook.setdefault("_counted", set()):
                    continue
                hook["_counted"].add(inv.id)
                if inv.state == "failed":
                    hook["consecutiveFailures"] += 1
                    hook["firstConsecutiveFailDate"] = hook["firstConsecutiveFailDate"] or self.state.now()
                else:
                    hook["consecutiveFailures"], hook["firstConsecutiveFailDate"] = 0, None
