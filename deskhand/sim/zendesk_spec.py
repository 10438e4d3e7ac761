"""The Zendesk simulator in the registry (deskhand.sim.registry): how to build, connect, script it."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

from deskhand.sim.registry import BuiltSim, RunningSim, SimConfig, SimOption, SimSpec, register, ticket_truth

STATUS = {"new": "new", "open": "open", "pending": "pending", "on_hold": "hold", "solved": "solved",
          "closed": "closed"}


def _auth_server(cfg: SimConfig) -> Any:
    """The OAuth authorisation server: a test's own (extras["oauth"]) or one for --oauth-client ID:SECRET."""
    from deskhand.sim import zendesk_oauth

    if cfg.extras.get("oauth") is not None:
        return cfg.extras["oauth"]
    client = cfg.extras.get("oauth_client")
    if not client:
        return None
    cid, _, secret = str(client).partition(":")
    if not cid or not secret:
        raise ValueError("--oauth-client takes ID:SECRET")
    return zendesk_oauth.auth_server({cid: secret}, access_ttl_s=float(cfg.extras.get("oauth_access_ttl_s", 1800.0)))


def build(cfg: SimConfig) -> BuiltSim:
    from deskhand.sim import zendesk
    from deskhand.sim.base import WebhookDelivery
    from deskhand.sim.zendesk_state import ZendeskState

    state = cfg.state if cfg.state is not None else ZendeskState(admin_email=zendesk.DEFAULT_EMAIL)
    if cfg.tickets:
        state.seed_tickets(cfg.tickets, random.Random(cfg.seed))
    window_s = cfg.window_s or 60.0
    lag = cfg.extras.get("incremental_lag_s", 60.0 if cfg.feed_lag_s is None else cfg.feed_lag_s)
    delivery = WebhookDelivery(backoff_s=0.05, max_backoff_s=0.2) if cfg.quick_retries else WebhookDelivery()
    app = zendesk.create_app(state, token=cfg.token, rate_limit=(cfg.rate_limit or 700) if cfg.limits else 10**9,
                             window_s=window_s, webhook_url=cfg.webhook_url, webhook_secret=cfg.webhook_secret,
                             incremental_lag_s=lag, delivery=delivery, oauth=_auth_server(cfg))

    def banner(url: str) -> list[str]:
        lines = [f"Zendesk simulator on {url}/api/v2  (subdomain 'sim')",
                 f"  auth: email {zendesk.DEFAULT_EMAIL} (any works), api token {cfg.token}",
                 f"  zenpy: ZENPY_FORCE_NETLOC={url.split('://')[1]} ZENPY_FORCE_SCHEME=http"]
        return lines + [f"  webhook {hook['id']} -> {hook['endpoint']} ({len(hook['subscriptions'])} event types)"
                        for hook in state.webhooks.values()]

    return BuiltSim(app, state, close=delivery.close, window_s=window_s, banner=banner)


def connect(url: str, cfg: SimConfig, state: Any) -> dict[str, str]:
    config = {"subdomain": "acme", "email": "deskhand@acme.test", "api_token": cfg.token, "base_url": url}
    return config | ({"webhook_secret": cfg.webhook_secret} if cfg.webhook_secret else {})


def customer(config: dict[str, str]) -> dict[str, str]:
    return {**config, "email": "intake@acme.test"}  # a separate API user: the intake channel


def truth(state: Any) -> tuple[list[tuple[str, str]], set[str], int]:
    with state.lock:
        pairs = [
            ticket_truth(str(t["id"]), t["subject"], t["status"], t["tags"], t["updated_at"],
                         [{"id": str(c["id"]), "body": c["body"], "public": bool(c["public"])}
                          for c in state.comments[t["id"]]])
            for t in state.tickets.values()
        ]
        comments = sum(len(state.comments[t]) for t in state.tickets)
        return pairs, {str(i) for i in state.deleted}, comments


def customer_says(sim: RunningSim, ticket_id: str, body: str) -> None:
    state = sim.state
    requester = state.users[state.tickets[int(ticket_id)]["requester_id"]]
    state.update_ticket(int(ticket_id), {"comment": {"body": body, "author_id": requester["id"]}}, requester)


def agent_says(sim: RunningSim, ticket_id: str, body: str, public: bool, status: str | None) -> None:
    agent = sim.state.agents[0]
    data: dict[str, Any] = {"comment": {"body": body, "public": public, "author_id": agent["id"]}}
    if status:
        data["status"] = STATUS[status]
    sim.state.update_ticket(int(ticket_id), data, agent)


def set_status(sim: RunningSim, ticket_id: str, status: str) -> None:
    sim.state.update_ticket(int(ticket_id), {"status": STATUS[status]}, sim.state.agents[0])


def signed_delivery(delivery_id: str, secret: str) -> tuple[bytes, dict[str, str]]:
    """A ``ticket.created`` event-subscription delivery, signed as Zendesk signs it."""
    from deskhand.sim.zendesk_webhooks import sign

    body = json.dumps({
        "type": "zen:event-type:ticket.created", "account_id": 1, "id": delivery_id,
        "time": "2026-11-25T10:00:00Z", "zendesk_event_version": "2022-06-20", "subject": "zen:ticket:1",
        "detail": {"id": "1", "subject": "How do I reset my password?", "status": "NEW", "requester_id": "9"},
        "event": {},
    }).encode()
    ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return body, {"content-type": "application/json", "x-zendesk-webhook-signature": sign(secret, ts, body),
                  "x-zendesk-webhook-signature-timestamp": ts}


register("zendesk", SimSpec(
    slug="zendesk", title="A local Zendesk Support API v2 (Basic {email}/token:{token}).", port=8081,
    build=build, connect=connect, customer=customer, truth=truth,
    customer_says=customer_says, agent_says=agent_says, set_status=set_status, signed_delivery=signed_delivery,
    names_requester=True,
    rate_limit_help="Requests per minute (per --window-s); default 700.",
    options=(
        SimOption("window_s", float, 60.0, "Length of the rate-limit window in seconds."),
        SimOption("incremental_lag_s", float, 60.0, "Changes younger than this are hidden from exports."),
        SimOption("oauth_client", str, None, "ID:SECRET of an OAuth client: serve /oauth/authorizations/new "
                  "(auto-approving) and /oauth/tokens, and accept their Bearer access tokens."),
        SimOption("oauth_access_ttl_s", float, 1800.0, "Lifetime of the OAuth access tokens it issues."),
    ),
))
