"""The Freshdesk simulator in the registry (deskhand.sim.registry): how to build, connect, script it.

The API key is ``SimConfig.token``. deskhand acts as the admin agent; the customer side is a second
agent's key (an intake channel creating tickets that name their requester). With a webhook URL the
simulator runs the three automation rules the README tells a Freshdesk admin to create, sending the
secret in ``X-Deskhand-Secret``.
"""

from __future__ import annotations

import json
import random
from typing import Any

from deskhand.sim.registry import BuiltSim, RunningSim, SimConfig, SimOption, SimSpec, register, ticket_truth

INTAKE_KEY = "deskhand-sim-intake-key"
STATUS = {"new": 2, "open": 2, "pending": 3, "on_hold": 7, "solved": 4, "closed": 5}


def build(cfg: SimConfig) -> BuiltSim:
    from deskhand.sim import freshdesk
    from deskhand.sim.freshdesk_limits import PLANS
    from deskhand.sim.freshdesk_state import FreshdeskState

    plan = str(cfg.extras.get("plan", "enterprise"))
    if plan not in PLANS:
        raise ValueError(f"unknown Freshdesk plan {plan!r}: one of {', '.join(PLANS)}")
    state = cfg.state if cfg.state is not None else FreshdeskState(admin_email=freshdesk.DEFAULT_EMAIL)
    if cfg.tickets:
        state.seed_tickets(cfg.tickets, random.Random(cfg.seed))
    intake = state.people.agent_by_email("intake@acme.test") or state.people.add_agent("Intake", "intake@acme.test")
    state.api_keys[INTAKE_KEY] = intake["id"]
    window_s = cfg.window_s or 60.0
    mode = str(cfg.extras.get("webhook_mode", "header"))
    if mode not in ("header", "basic"):
        raise ValueError(f"unknown webhook mode {mode!r}: header or basic")
    basic = ("deskhand", cfg.webhook_secret) if mode == "basic" and cfg.webhook_secret else None
    app = freshdesk.create_app(state, api_key=cfg.token, plan=plan,
                               rate_limit=cfg.rate_limit if cfg.limits else 10**9, window_s=window_s,
                               webhook_url=cfg.webhook_url, webhook_secret=None if basic else cfg.webhook_secret,
                               webhook_basic_auth=basic,
                               retry_scale=1e-4 if cfg.quick_retries else 1.0)

    def banner(url: str) -> list[str]:
        return [f"Freshdesk simulator on {url}/api/v2  (domain {state.domain}, plan {plan})",
                f"  auth: Basic, user = API key {cfg.token}, password X",
                f"  python-freshdesk: API('{state.domain}', '{cfg.token}'); api._api_prefix = '{url}/api/v2/'",
                *(f"  automation rule '{rule.name}' -> {rule.url}" for rule in app.state.rules)]

    return BuiltSim(app, state, close=app.state.delivery.close, window_s=window_s, banner=banner)


def connect(url: str, cfg: SimConfig, state: Any) -> dict[str, str]:
    config = {"domain": "acme", "api_key": cfg.token, "base_url": url}
    return config | ({"webhook_secret": cfg.webhook_secret} if cfg.webhook_secret else {})


def customer(config: dict[str, str]) -> dict[str, str]:
    return {**config, "api_key": INTAKE_KEY}  # another agent's key: the intake channel


def truth(state: Any) -> tuple[list[tuple[str, str]], set[str], int]:
    with state.lock:
        live = [t for t in state.tickets.values() if not t["_deleted"]]
        pairs = [
            ticket_truth(str(t["id"]), t["subject"], str(t["status"]), t["tags"], t["updated_at"],
                         [{"id": str(c["id"]), "body": c["body_text"], "public": not c["private"]}
                          for c in state.conversations[t["id"]]])
            for t in live
        ]
        deleted = {str(i) for i, t in state.tickets.items() if t["_deleted"]}
        return pairs, deleted, sum(len(state.conversations[t["id"]]) for t in live)


def customer_says(sim: RunningSim, ticket_id: str, body: str) -> None:
    requester = sim.state.tickets[int(ticket_id)]["requester_id"]
    sim.state.reply(int(ticket_id), {"body": body, "user_id": requester}, requester)


def agent_says(sim: RunningSim, ticket_id: str, body: str, public: bool, status: str | None) -> None:
    agent = sim.state.people.staff[0]["id"]
    if public:
        sim.state.reply(int(ticket_id), {"body": body, "user_id": agent}, agent)
    else:
        sim.state.note(int(ticket_id), {"body": body, "user_id": agent, "private": True}, agent)
    if status:
        sim.state.update_ticket(int(ticket_id), {"status": STATUS[status]}, agent)


def set_status(sim: RunningSim, ticket_id: str, status: str) -> None:
    sim.state.update_ticket(int(ticket_id), {"status": STATUS[status]}, sim.state.people.staff[0]["id"])


def signed_delivery(delivery_id: str, secret: str) -> tuple[bytes, dict[str, str]]:
    """A ticket-creation rule's delivery as Freshdesk sends it: the rule's JSON, the secret header
    (nothing is signed; the body differs per ``delivery_id``, whose digest is its delivery id)."""
    from deskhand.sim.freshdesk_webhooks import DESKHAND_TEMPLATE, render

    values = {"ticket.id": 1, "ticket.subject": f"How do I reset my password? ({delivery_id})",
              "ticket.status": "Open", "ticket.priority": "Low", "triggered_event": "{ticket_action:created}",
              "ticket.requester.email": "ann@example.test", "ticket.requester.name": "Ann"}
    body = render(DESKHAND_TEMPLATE.replace("EVENT", "ticket_created"), values).encode()
    json.loads(body)  # the template stays JSON
    return body, {"content-type": "application/json", "x-deskhand-secret": secret}


register("freshdesk", SimSpec(
    slug="freshdesk", title="A local Freshdesk API v2 (Basic {token}:X; automation-rule webhooks).", port=8083,
    build=build, connect=connect, customer=customer, truth=truth,
    customer_says=customer_says, agent_says=agent_says, set_status=set_status, signed_delivery=signed_delivery,
    names_requester=True,
    rate_limit_help="Credits per window for the whole account instead of the plan's budgets.",
    options=(
        SimOption("plan", str, "enterprise", "Per-minute limits of this plan: trial | growth | pro | enterprise."),
        SimOption("window_s", float, 60.0, "Length of the rate-limit window in seconds."),
        SimOption("webhook_mode", str, "header", "How the rules authenticate: header (X-Deskhand-Secret) | basic "
                  "(user deskhand, the secret as password)."),
    ),
))
