"""The Trello simulator in the registry (deskhand.sim.registry): how to build, connect, script it.

deskhand acts as member "Dana Admin" (``SimConfig.token``) with the API key ``deskhand-sim-key``; the
customer side is the "Intake" member's token (an email-to-board channel). The webhook secret is the
application secret Trello signs deliveries with. With a webhook URL the Support board has a webhook
to it already (as ``deskhand connect trello --register-webhook`` would create).
"""

from __future__ import annotations

import json
import random
from typing import Any

from deskhand.sim.registry import BuiltSim, RunningSim, SimConfig, SimOption, SimSpec, register, ticket_truth

# the Support board's list of each status; closed is archived (closed: true) wherever the card is
LIST_OF = {"new": "New", "open": "In progress", "pending": "Waiting on customer", "on_hold": "On hold",
           "solved": "Done"}
# what the bench's webhook deliveries are signed against when the account names no callback URL
BENCH_CALLBACK = "http://127.0.0.1/webhooks/trello/bench"


def build(cfg: SimConfig) -> BuiltSim:
    from deskhand.sim import trello
    from deskhand.sim.trello_seed import default_state, seed_cards, support_board

    state = cfg.state if cfg.state is not None else default_state(cfg.token)
    if cfg.tickets:
        seed_cards(state, cfg.tickets, random.Random(cfg.seed))
    window_s = cfg.window_s or 10.0
    huge = 10**9
    app = trello.create_app(state, token=cfg.token, app_secret=cfg.webhook_secret or trello.DEFAULT_SECRET,
                            key_max=huge if not cfg.limits else int(cfg.extras.get("key_limit", 300)),
                            token_max=huge if not cfg.limits else (cfg.rate_limit or 100), window_s=window_s,
                            retry_scale=1e-4 if cfg.quick_retries else 1.0)
    if cfg.webhook_url:
        with state.lock:
            hid = state.new_id()
            state.webhooks[hid] = {"id": hid, "description": "deskhand", "idModel": support_board(state),
                                   "callbackURL": cfg.webhook_url, "active": True, "consecutiveFailures": 0,
                                   "firstConsecutiveFailDate": None, "_token": cfg.token,
                                   "_key": trello.DEFAULT_KEY}

    def banner(url: str) -> list[str]:
        return [f"Trello simulator on {url}/1  (board Support {support_board(state)})",
                f"  auth: Authorization: OAuth oauth_consumer_key=\"{trello.DEFAULT_KEY}\", "
                f"oauth_token=\"{cfg.token}\"  (or ?key=…&token=…)",
                f"  webhooks signed with the application secret {cfg.webhook_secret or trello.DEFAULT_SECRET}",
                "  py-trello: TrelloClient(key, api_secret=token, http_service=<rewrites https://api.trello.com>)"]

    return BuiltSim(app, state, close=app.state.delivery.close,
                    bucket=lambda method, path: "token", window_s=window_s, banner=banner)


def connect(url: str, cfg: SimConfig, state: Any) -> dict[str, str]:
    from deskhand.sim import trello
    from deskhand.sim.trello_seed import support_board

    config = {"api_key": trello.DEFAULT_KEY, "token": cfg.token, "base_url": url,
              "webhook_secret": cfg.webhook_secret or trello.DEFAULT_SECRET,
              "callback_url": cfg.webhook_url or BENCH_CALLBACK}
    if state is not None:
        config["board"] = support_board(state)
    return config


def overrides(state: Any) -> dict[str, Any]:
    """``--set list.<status>=<id>``: the Support board's lists by their names (LIST_OF)."""
    from deskhand.sim.trello_seed import support_board

    board = support_board(state)
    lists = {lst["name"]: lst["id"] for lst in state.lists.values() if lst["idBoard"] == board}
    return {"list": {status: lists[name] for status, name in LIST_OF.items() if name in lists}}


def customer(config: dict[str, str]) -> dict[str, str]:
    from deskhand.sim.trello_seed import INTAKE_TOKEN

    return {**config, "token": INTAKE_TOKEN}


def truth(state: Any) -> tuple[list[tuple[str, str]], set[str], int]:
    with state.lock:
        pairs = []
        for card in state.cards.values():
            comments = [{"id": a["id"], "body": a["data"]["text"], "public": True} for a in state.comments(card["id"])]
            status = "closed" if card["closed"] else card["idList"]
            tags = [lb["name"] or lb["color"] or lb["id"] for lb in card["labels"]]
            pairs.append(ticket_truth(card["id"], card["name"], status, tags, card["dateLastActivity"], comments))
        return pairs, set(state.deleted), sum(len(state.comments(c)) for c in state.cards)


def _agent(sim: RunningSim) -> str:
    from deskhand.sim.trello_seed import INTAKE_TOKEN

    state = sim.state
    board = next(iter(state.boards))
    admin = state.tokens[sim.config.token]
    return next(m for m in state.board_members[board] if m not in (admin, state.tokens[INTAKE_TOKEN]))


def customer_says(sim: RunningSim, ticket_id: str, body: str) -> None:
    from deskhand.sim.trello_seed import INTAKE_TOKEN

    sim.state.comment(ticket_id, body, sim.state.tokens[INTAKE_TOKEN])


def agent_says(sim: RunningSim, ticket_id: str, body: str, public: bool, status: str | None) -> None:
    sim.state.comment(ticket_id, body, _agent(sim))  # Trello has no internal notes: every comment is seen
    if status:
        set_status(sim, ticket_id, status)


def set_status(sim: RunningSim, ticket_id: str, status: str) -> None:
    state, agent = sim.state, _agent(sim)
    card = state.card(ticket_id)
    if status == "closed":
        state.update_card(ticket_id, {"closed": True}, agent)
        return
    target = next(lst["id"] for lst in state.lists.values()
                  if lst["idBoard"] == card["idBoard"] and lst["name"] == LIST_OF[status])
    state.update_card(ticket_id, {"idList": target, "closed": False}, agent)


def signed_delivery(delivery_id: str, secret: str) -> tuple[bytes, dict[str, str]]:
    """A createCard delivery as Trello sends it to ``BENCH_CALLBACK``: signed over body + callback URL."""
    from deskhand.sim.trello_webhooks import signature

    action_id = (delivery_id.encode().hex() + "0" * 24)[:24]
    body = json.dumps({"action": {"id": action_id, "idMemberCreator": "0" * 24, "type": "createCard",
                                  "date": "2026-12-01T10:00:00.000Z",
                                  "data": {"card": {"id": "1" * 24, "name": f"Reset password ({delivery_id})"},
                                           "board": {"id": "2" * 24, "name": "Support"},
                                           "list": {"id": "3" * 24, "name": "New"}},
                                  "memberCreator": {"id": "0" * 24, "fullName": "Intake"}},
                       "model": {"id": "2" * 24, "name": "Support"},
                       "webhook": {"id": "4" * 24, "callbackURL": BENCH_CALLBACK}}).encode()
    return body, {"content-type": "application/json", "x-trello-webhook": signature(secret, body, BENCH_CALLBACK)}


register("trello", SimSpec(
    slug="trello", title="A local Trello REST API (key + token; HEAD-checked, HMAC-SHA1 signed webhooks).",
    port=8085, build=build, connect=connect, customer=customer, truth=truth,
    customer_says=customer_says, agent_says=agent_says, set_status=set_status, signed_delivery=signed_delivery,
    names_requester=False, overrides=overrides,
    rate_limit_help="Requests per window for deskhand's token (Trello: 100 per 10 s).",
    options=(
        SimOption("window_s", float, 10.0, "Length of the rate-limit window in seconds."),
        SimOption("key_limit", int, 300, "Requests per window for the API key (Trello: 300 per 10 s)."),
    ),
))
