"""The Linear simulator in the registry (deskhand.sim.registry): how to build, connect, script it.

The personal API key is ``SimConfig.token`` (the "Deskhand Bot" user). The customer side is the
intake user's key: Linear has no requesters, so tickets are issues the intake channel raises.
With a webhook URL the simulator has one webhook for all public teams (Issue and Comment) whose
signing secret is ``SimConfig.webhook_secret``.
"""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

from deskhand.sim.oauth_apps import options as oauth_options
from deskhand.sim.registry import BuiltSim, RunningSim, SimConfig, SimOption, SimSpec, register, ticket_truth

INTAKE_KEY = "lin_api_deskhand_sim_intake"
STATE_NAMES = {"new": "Triage", "open": "In Progress", "pending": "Waiting for customer", "on_hold": "On hold",
               "solved": "Done", "closed": "Canceled"}


def build(cfg: SimConfig) -> BuiltSim:
    from deskhand.sim import linear, linear_oauth
    from deskhand.sim.linear_state import LinearState
    from deskhand.sim.oauth_apps import auth_server_of

    state = cfg.state if cfg.state is not None else LinearState()
    if cfg.tickets:
        state.seed_issues(cfg.tickets, random.Random(cfg.seed))
    state.api_keys[INTAKE_KEY] = state.intake_user()["id"]
    period = cfg.window_s or 3600.0
    app = linear.create_app(state, api_key=cfg.token, rate_limit=cfg.rate_limit, period_s=period,
                            limits=cfg.limits, webhook_url=cfg.webhook_url, webhook_secret=cfg.webhook_secret,
                            retry_scale=1e-4 if cfg.quick_retries else 1.0,
                            oauth=auth_server_of(cfg.extras, linear_oauth.auth_server))

    def banner(url: str) -> list[str]:
        return [f"Linear simulator on {url}/graphql  (team {state.team['key']}, {len(state.issues)} issues)",
                f"  auth: Authorization: {cfg.token}   (a personal API key, no 'Bearer')",
                f"  gql: RequestsHTTPTransport(url='{url}/graphql', headers={{'Authorization': '{cfg.token}'}})",
                *(f"  webhook -> {hook['url']}" for hook in state.webhooks.values())]

    return BuiltSim(app, state, close=app.state.delivery.close, window_s=period, banner=banner)


def connect(url: str, cfg: SimConfig, state: Any) -> dict[str, str]:
    config = {"api_key": cfg.token, "base_url": url}
    if state is not None:
        config["team_id"] = state.team["id"]
    return config | ({"webhook_secret": cfg.webhook_secret} if cfg.webhook_secret else {})


def overrides(state: Any) -> dict[str, Any]:
    """``--set status.pending=<id> --set status.on_hold=<id>``: the team's states that mean them."""
    return {"status": {status: state.state_named(state.team["id"], STATE_NAMES[status])["id"]
                       for status in ("pending", "on_hold")}}


def customer(config: dict[str, str]) -> dict[str, str]:
    return {**config, "api_key": INTAKE_KEY}


def truth(state: Any) -> tuple[list[tuple[str, str]], set[str], int]:
    with state.lock:
        live = [i for i in state.issues.values() if not i.get("trashed")]
        pairs = [
            ticket_truth(i["id"], i["title"], state.states[i["stateId"]]["name"],
                         [state.labels[x]["name"] for x in i["labelIds"]], i["updatedAt"],
                         [{"id": c["id"], "body": c["body"], "public": True} for c in state.comments_of(i["id"])])
            for i in live
        ]
        deleted = {i["id"] for i in state.issues.values() if i.get("trashed")}
        return pairs, deleted, sum(len(state.comments_of(i["id"])) for i in live)


def customer_says(sim: RunningSim, ticket_id: str, body: str) -> None:
    sim.state.create_comment({"issueId": ticket_id, "body": body}, sim.state.intake_user()["id"])


def agent_says(sim: RunningSim, ticket_id: str, body: str, public: bool, status: str | None) -> None:
    agent = next(u for u in sim.state.users.values() if u["email"] not in ("bot@acme.test", "intake@acme.test")) \
        if len(sim.state.users) > 2 else sim.state.add_user("Dana Reyes", "dana@acme.test")
    sim.state.create_comment({"issueId": ticket_id, "body": body}, agent["id"])  # Linear comments are all visible
    if status:
        set_status(sim, ticket_id, status)


def set_status(sim: RunningSim, ticket_id: str, status: str) -> None:
    issue = sim.state.issue(ticket_id)
    target = sim.state.state_named(issue["teamId"], STATE_NAMES[status])
    sim.state.update_issue(ticket_id, {"stateId": target["id"]}, sim.state.viewer["id"])


def signed_delivery(delivery_id: str, secret: str) -> tuple[bytes, dict[str, str]]:
    """An Issue create delivery as Linear signs it (hex HMAC-SHA256 of the body; timestamp now, in ms)."""
    import time

    from deskhand.sim.linear_webhooks import stamp

    issue_id = str(uuid.uuid5(uuid.NAMESPACE_URL, delivery_id))
    payload = {"action": "create", "type": "Issue", "createdAt": "2026-12-01T10:00:00.000Z",
               "actor": {"id": "u-intake", "name": "Intake", "type": "user"},
               "data": {"id": issue_id, "identifier": "SUP-1", "title": f"How do I reset my password? ({delivery_id})",
                        "description": "The reset link never arrives.", "priority": 3, "teamId": "t-sup",
                        "stateId": "s-triage", "labelIds": [], "createdAt": "2026-12-01T10:00:00.000Z",
                        "updatedAt": "2026-12-01T10:00:00.000Z"},
               "url": "https://linear.app/acme/issue/SUP-1", "organizationId": "org-acme", "webhookId": "wh-1"}
    body, signed = stamp(payload, secret, int(time.time() * 1000))
    json.loads(body)
    return body, {"content-type": "application/json; charset=utf-8", "linear-delivery": delivery_id,
                  "linear-event": "Issue", **signed}


register("linear", SimSpec(
    slug="linear", title="A local Linear GraphQL API (Authorization: {token}; signed webhooks).", port=8084,
    build=build, connect=connect, customer=customer, truth=truth,
    customer_says=customer_says, agent_says=agent_says, set_status=set_status, signed_delivery=signed_delivery,
    names_requester=False, overrides=overrides,
    rate_limit_help="Requests per window (Linear's leaky bucket; default 5000 an hour).",
    options=(SimOption("window_s", float, 3600.0, "Length of the rate-limit period in seconds."),
             *oauth_options("/oauth/authorize", "/oauth/token", 86_400.0)),
))
