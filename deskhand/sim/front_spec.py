"""The Front simulator in the registry (deskhand.sim.registry): how to build, connect, script it.

The API token is ``SimConfig.token`` (Bearer; it acts as the company's API teammate). The customer side
is a second token used for ``POST /channels/{id}/incoming_messages`` (mail reaching Front). With a
webhook URL the simulator saves an application webhook once it runs (the receiver must echo the
``x-front-challenge``), signing deliveries with ``SimConfig.webhook_secret``.
"""

from __future__ import annotations

import json
import random
from typing import Any

from deskhand.sim.oauth_apps import options as oauth_options
from deskhand.sim.registry import BuiltSim, RunningSim, SimConfig, SimOption, SimSpec, register, ticket_truth

INTAKE_TOKEN = "deskhand-sim-intake-token"
CATEGORY = {"new": "open", "open": "open", "pending": "waiting", "on_hold": "waiting", "solved": "resolved",
            "closed": "resolved"}


def build(cfg: SimConfig) -> BuiltSim:
    from deskhand.sim import front, front_oauth
    from deskhand.sim.front_seed import seed_conversations
    from deskhand.sim.front_state import FrontState
    from deskhand.sim.oauth_apps import auth_server_of

    plan = str(cfg.extras.get("plan", "enterprise"))
    state = cfg.state if cfg.state is not None else FrontState()
    if cfg.tickets:
        seed_conversations(state, cfg.tickets, random.Random(cfg.seed))
    state.tokens[INTAKE_TOKEN] = state.admin["id"]
    window_s = cfg.window_s or 60.0
    app = front.create_app(state, token=cfg.token, plan=plan, rate_limit=cfg.rate_limit if cfg.limits else 10**9,
                           window_s=window_s, webhook_url=cfg.webhook_url, webhook_secret=cfg.webhook_secret,
                           oauth=auth_server_of(cfg.extras, front_oauth.auth_server))

    def banner(url: str) -> list[str]:
        return [f"Front simulator on {url}  (company {state.company_id}, plan {plan})",
                f"  auth: Authorization: Bearer {cfg.token}",
                f"  new mail: POST {url}/channels/{state.channel['id']}/incoming_messages",
                *([f"  application webhook -> {cfg.webhook_url}"] if cfg.webhook_url else [])]

    def close() -> None:
        app.state.stop_ticker()
        app.state.delivery.close()

    return BuiltSim(app, state, close=close, window_s=window_s, banner=banner)


def connect(url: str, cfg: SimConfig, state: Any) -> dict[str, str]:
    teammate = state.bot["id"] if state is not None else "tea_2"  # the API token's teammate
    config = {"api_token": cfg.token, "base_url": url, "teammate_id": teammate}
    return config | ({"webhook_secret": cfg.webhook_secret} if cfg.webhook_secret else {})


def customer(config: dict[str, str]) -> dict[str, str]:
    return {**config, "api_token": INTAKE_TOKEN}


def truth(state: Any) -> tuple[list[tuple[str, str]], set[str], int]:
    with state.lock:
        live = [c for c in state.conversations.values() if c["_status"] not in ("deleted", "spam")]
        pairs = []
        count = 0
        for conv in live:
            cid = conv["id"]
            comments = [{"id": m["id"], "body": m["text"], "public": True} for m in state.messages[cid]]
            comments += [{"id": c["id"], "body": c["body"], "public": False} for c in state.comments[cid]]
            count += len(comments)
            tags = [state.tags[t]["name"] for t in conv["tag_ids"]]
            raw = conv["status_id"] or state.response_status(conv)
            pairs.append(ticket_truth(cid, conv["subject"], raw, tags, conv["_updated"],
                                      comments))
        deleted = {c["id"] for c in state.conversations.values() if c["_status"] in ("deleted", "spam")}
        return pairs, deleted, count


def customer_says(sim: RunningSim, ticket_id: str, body: str) -> None:
    conv = sim.state.conversations[ticket_id]
    if not conv["_thread_ref"]:
        conv["_thread_ref"] = f"ref-{ticket_id}"
    sim.state.accept_message(None, {"sender": {"handle": conv["_handle"]}, "body": body,
                                    "metadata": {"thread_ref": conv["_thread_ref"]}},
                             inbound=True, author_id=None, channel_id=conv["_channel_id"])


def agent_says(sim: RunningSim, ticket_id: str, body: str, public: bool, status: str | None) -> None:
    agent = sim.state.admin["id"]
    if public:
        sim.state.accept_message(ticket_id, {"body": body}, inbound=False, author_id=agent)
    else:
        sim.state.comment(ticket_id, {"body": body}, agent)
    if status:
        set_status(sim, ticket_id, status)


def set_status(sim: RunningSim, ticket_id: str, status: str) -> None:
    sim.state.update(ticket_id, {"status_id": sim.state.status_of_category(CATEGORY[status])})


def signed_delivery(delivery_id: str, secret: str) -> tuple[bytes, dict[str, str]]:
    """An ``inbound`` event (a short one) as Front's application webhook signs it (the body names ``delivery_id``)."""
    import time

    from deskhand.sim.front_webhooks import signed

    body = json.dumps({"type": "inbound_received", "authorization": {"id": "cmp_deskhand"},
                       "payload": {"id": f"evt_{delivery_id}", "type": "inbound", "emitted_at": time.time(),
                                   "conversation": {"id": "cnv_1", "_links": {"self": "/conversations/cnv_1"}}}})
    return body.encode(), signed(secret, body.encode(), time.time())


register("front", SimSpec(
    slug="front", title="A local Front Core API (Bearer {token}; application webhooks).", port=8084,
    build=build, connect=connect, customer=customer, truth=truth,
    customer_says=customer_says, agent_says=agent_says, set_status=set_status, signed_delivery=signed_delivery,
    names_requester=True,
    rate_limit_help="Requests per minute for the company instead of the plan's (starter 50, professional 100, "
                    "enterprise 200).",
    options=(SimOption("plan", str, "enterprise", "Requests per minute of this plan: starter | professional | "
                       "enterprise."),
             *oauth_options("/oauth/authorize", "/oauth/token", 3600.0)),
))
