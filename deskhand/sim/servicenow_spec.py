"""The ServiceNow simulator in the registry (deskhand.sim.registry): how to build, connect, script it.

deskhand signs in as ``admin`` with the token as password; the customer side is a caller
(``customer`` / the token) raising incidents from self-service. With a webhook URL the simulator runs
the README's business rule (:mod:`deskhand.sim.servicenow_webhooks`), signing with the webhook secret
(``--webhook-mode basic``: Basic auth with the secret as password instead).
"""

from __future__ import annotations

import random
from typing import Any

from deskhand.sim.oauth_apps import options as oauth_options
from deskhand.sim.registry import BuiltSim, RunningSim, SimConfig, SimOption, SimSpec, register, ticket_truth

ADMIN = "admin"
CUSTOMER = "customer"
OAUTH_CLIENT_ID = "deskhand-sim-client"  # its client secret is the token
STATE = {"new": "1", "open": "2", "pending": "3", "on_hold": "3", "solved": "6", "closed": "7"}
HOLD = {"pending": "1", "on_hold": "4"}
CLOSE = {"close_code": "Solved (Permanently)", "close_notes": "Resolved by the service desk."}


def build(cfg: SimConfig) -> BuiltSim:
    from deskhand.sim import servicenow
    from deskhand.sim.oauth_apps import auth_server_of
    from deskhand.sim.servicenow_oauth import CodeFlow, OAuthTokens
    from deskhand.sim.servicenow_seed import seed_incidents, seed_people
    from deskhand.sim.servicenow_state import ServiceNowState
    from deskhand.sim.servicenow_webhooks import BusinessRule

    state = cfg.state if cfg.state is not None else ServiceNowState()
    for user_name, name, roles in ((ADMIN, "System Administrator", "admin,itil"), (CUSTOMER, "Carla Customer", "")):
        if state.user(user_name) is None:
            state.add_user(user_name, name, f"{user_name}@acme.test", roles=roles)
        state.passwords[user_name] = cfg.token
    seed_people(state)
    if cfg.tickets:
        seed_incidents(state, cfg.tickets, random.Random(cfg.seed))
    rule = None
    if cfg.webhook_url:
        from deskhand.sim.base import WebhookDelivery

        rule = BusinessRule(state, cfg.webhook_url, cfg.webhook_secret or "",
                            mode=str(cfg.extras.get("webhook_mode", "hmac")),
                            delivery=WebhookDelivery(max_attempts=1))
    limit = cfg.rate_limit if cfg.limits else None
    window_s = cfg.window_s or 3600.0
    oauth = OAuthTokens(state)
    oauth.add_app(OAUTH_CLIENT_ID, cfg.token, ADMIN)
    code_flow = auth_server_of(cfg.extras, lambda clients, **o: CodeFlow(clients, user=ADMIN, clock=state.clock, **o))
    app = servicenow.create_app(state, rate_limit=limit, window_s=window_s, oauth=oauth,
                                code_flow=code_flow)  # type: ignore[arg-type]

    def banner(url: str) -> list[str]:
        return [f"ServiceNow simulator on {url}/api/now/table/incident  (instance {state.instance})",
                f"  auth: Basic {ADMIN}:{cfg.token} (caller: {CUSTOMER}:{cfg.token}); OAuth: POST {url}/oauth_token.do"
                f" client_id {OAUTH_CLIENT_ID}, client_secret = the token",
                f"  pysnow: Client(host='{url.removeprefix('http://')}', use_ssl=False, user='{ADMIN}', password=…)",
                *([f"  business rule 'deskhand webhook' -> {cfg.webhook_url}"] if rule else [])]

    return BuiltSim(app, state, close=rule.delivery.close if rule else (lambda: None), window_s=window_s,
                    bucket=lambda method, path: "user", banner=banner)


def connect(url: str, cfg: SimConfig, state: Any) -> dict[str, str]:
    config = {"instance": "acme", "username": ADMIN, "password": cfg.token, "base_url": url}
    return config | ({"webhook_secret": cfg.webhook_secret} if cfg.webhook_secret else {})


def customer(config: dict[str, str]) -> dict[str, str]:
    return {**config, "username": CUSTOMER}


def truth(state: Any) -> tuple[list[tuple[str, str]], set[str], int]:
    with state.lock:
        pairs, comments = [], 0
        for row in state.tables["incident"].values():
            journal = state.journal(row["sys_id"])
            comments += len(journal)
            pairs.append(ticket_truth(row["sys_id"], row["short_description"], row["state"], state.tags(row["sys_id"]),
                                      row["sys_updated_on"].replace(" ", "T") + "Z",
                                      [{"id": j["sys_id"], "body": j["value"], "public": j["element"] == "comments"}
                                       for j in journal]))
        return pairs, set(state.deleted["incident"]), comments


def _caller(sim: RunningSim, ticket_id: str) -> str:
    caller = sim.state.tables["sys_user"].get(sim.state.tables["incident"][ticket_id]["caller_id"])
    return caller["user_name"] if caller else CUSTOMER


def customer_says(sim: RunningSim, ticket_id: str, body: str) -> None:
    sim.state.update_incident(ticket_id, {"comments": body}, _caller(sim, ticket_id))


def _status_values(status: str) -> dict[str, str]:
    values = {"state": STATE[status]}
    if status in HOLD:
        values["hold_reason"] = HOLD[status]
    if status in ("solved", "closed"):
        values |= CLOSE
    return values


def agent_says(sim: RunningSim, ticket_id: str, body: str, public: bool, status: str | None) -> None:
    values = {"comments" if public else "work_notes": body} | (_status_values(status) if status else {})
    sim.state.update_incident(ticket_id, values, "beth.agent")


def set_status(sim: RunningSim, ticket_id: str, status: str) -> None:
    sim.state.update_incident(ticket_id, _status_values(status), "beth.agent")


def signed_delivery(delivery_id: str, secret: str) -> tuple[bytes, dict[str, str]]:
    """An incident-created delivery as the README's business rule signs it."""
    from deskhand.sim.servicenow_state import ServiceNowState
    from deskhand.sim.servicenow_webhooks import body, headers

    state = ServiceNowState()
    row = state.create_incident({"short_description": f"How do I reset my password? ({delivery_id})"})
    data = body(state, "insert", row, ["short_description"], None, delivery_id=delivery_id)
    return data, {k.lower(): v for k, v in headers(secret, data).items()}


register("servicenow", SimSpec(
    slug="servicenow", title="A local ServiceNow Table API (Basic admin:{token}; business-rule webhooks).",
    port=8084, build=build, connect=connect, customer=customer, truth=truth,
    customer_says=customer_says, agent_says=agent_says, set_status=set_status, signed_delivery=signed_delivery,
    names_requester=False,
    rate_limit_help="Requests per hour per user (a rate-limit rule); none by default.",
    options=(SimOption("webhook_mode", str, "hmac", "How the business rule authenticates: hmac | basic."),
             *oauth_options("/oauth_auth.do", "/oauth_token.do", 1800.0)),
))
