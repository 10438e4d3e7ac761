"""Zendesk webhooks in the simulator: the Webhooks API and signed event-subscription deliveries.

A webhook subscribed to ``zen:event-type:ticket.*`` types gets each matching event (built by
:class:`~deskhand.sim.zendesk_state.ZendeskState`) POSTed through
:class:`~deskhand.sim.base.WebhookDelivery`, signed as Zendesk does:
``X-Zendesk-Webhook-Signature = base64(HMAC-SHA256(secret, timestamp + body))`` with
``X-Zendesk-Webhook-Signature-Timestamp`` like ``2024-04-17T17:18:10Z``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from deskhand.sim.base import WebhookDelivery, iso_utc
from deskhand.sim.zendesk_state import ZendeskError, ZendeskState, invalid, not_found, public

TICKET_EVENTS = tuple(f"zen:event-type:ticket.{kind}" for kind in (
    "created", "comment_added", "status_changed", "priority_changed", "agent_assignment_changed",
    "group_assignment_changed", "subject_changed", "tags_changed", "soft_deleted"))
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Zendesk's webhook signature: base64(HMAC-SHA256(secret, timestamp + body))."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def add_webhook(state: ZendeskState, endpoint: str, *, secret: str | None = None,
                subscriptions: list[str] | None = None, name: str = "deskhand",
                status: str = "active") -> dict[str, Any]:
    """Register a webhook (what POST /webhooks does); ``secret`` defaults to a random one."""
    if not endpoint.startswith(("http://", "https://")):
        raise invalid("endpoint", "Endpoint: must be an http(s) URL")
    wid = "01" + "".join(secrets.choice(_CROCKFORD) for _ in range(24))
    now = iso_utc(state.clock())
    hook = {"id": wid, "name": name, "status": status, "endpoint": endpoint, "http_method": "POST",
            "request_format": "json", "subscriptions": list(subscriptions or TICKET_EVENTS),
            "created_at": now, "created_by": str(state.admin["id"]), "updated_at": now,
            "updated_by": str(state.admin["id"]), "_secret": secret or secrets.token_urlsafe(32)}
    with state.lock:
        state.webhooks[wid] = hook
    return public(hook)


class Dispatcher:
    """State listener turning events into signed deliveries for subscribed, active webhooks."""

    def __init__(self, state: ZendeskState, delivery: WebhookDelivery):
        self.state = state
        self.delivery = delivery
        self._invocations = itertools.count(8_350_205_582)

    def __call__(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        with self.state.lock:
            hooks = [h for h in self.state.webhooks.values()
                     if h["status"] == "active" and payload["type"] in h["subscriptions"]]
        for hook in hooks:
            timestamp = iso_utc(self.state.clock())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "Zendesk Webhook",
                "X-Zendesk-Account-Id": str(self.state.account_id),
                "X-Zendesk-Webhook-Id": hook["id"],
                "X-Zendesk-Webhook-Invocation-Id": str(next(self._invocations)),
                "X-Zendesk-Webhook-Signature": sign(hook["_secret"], timestamp, body),
                "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
            }
            self.delivery.send(hook["endpoint"], body, headers)


def _hook(state: ZendeskState, request: Request) -> dict[str, Any]:
    hook = state.webhooks.get(request.path_params["webhook_id"])
    if hook is None:
        raise ZendeskError(404, {"errors": [{"code": "WebhookNotFound", "title": "Webhook not found",
                                             "detail": "Webhook not found"}]})
    return hook


def routes(state: ZendeskState) -> list[Route]:
    """Webhooks API: POST/GET /webhooks, GET/DELETE /webhooks/{id}, GET .../signing_secret."""

    async def create(request: Request) -> Response:
        data = (await request.json()).get("webhook") or {}
        if not data.get("endpoint") or not data.get("name"):
            raise ZendeskError(400, {"errors": [{"code": "InvalidInput", "title": "Invalid input",
                                                 "detail": "name and endpoint are required"}]})
        hook = add_webhook(state, data["endpoint"], subscriptions=data.get("subscriptions"),
                           name=data["name"], status=data.get("status", "active"))
        return JSONResponse({"webhook": hook}, status_code=201)

    async def index(request: Request) -> Response:
        hooks = [public(h) for h in state.webhooks.values()]
        return JSONResponse({"webhooks": hooks, "meta": {"has_more": False, "after_cursor": None,
                                                         "before_cursor": None},
                             "links": {"next": None, "prev": None}})

    async def show(request: Request) -> Response:
        return JSONResponse({"webhook": public(_hook(state, request))})

    async def delete(request: Request) -> Response:
        hook = _hook(state, request)
        with state.lock:
            state.webhooks.pop(hook["id"], None)
        return Response(status_code=204)

    async def signing_secret(request: Request) -> Response:
        hook = _hook(state, request)
        return JSONResponse({"signing_secret": {"algorithm": "SHA256", "secret": hook["_secret"]}})

    return [
        Route("/api/v2/webhooks", create, methods=["POST"]),
        Route("/api/v2/webhooks", index, methods=["GET"]),
        Route("/api/v2/webhooks/{webhook_id}", show, methods=["GET"]),
        Route("/api/v2/webhooks/{webhook_id}", delete, methods=["DELETE"]),
        Route("/api/v2/webhooks/{webhook_id}/signing_secret", signing_secret, methods=["GET"]),
    ]


__all__ = ["TICKET_EVENTS", "Dispatcher", "add_webhook", "not_found", "routes", "sign"]
