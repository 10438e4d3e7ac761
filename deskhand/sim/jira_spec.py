"""The Jira Service Management simulator in the registry (deskhand.sim.registry).

Tests and the demo script people through the simulator's own REST API (JSM request comments as the
customer or the agent, workflow transitions), so every step raises the webhook Jira would send.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

from deskhand.sim.registry import BuiltSim, RunningSim, SimConfig, SimOption, SimSpec, register, ticket_truth

CUSTOMER_EMAIL = "cara@customer.test"  # the JSM customer of the simulator's default state
ESCALATIONS = "557058:demo-escalations"  # the team (a user) an account escalates to
STATUS = {"new": "Open", "open": "Open", "pending": "Waiting for customer", "on_hold": "In Progress",
          "solved": "Resolved", "closed": "Closed"}


def _auth_server(cfg: SimConfig) -> Any:
    """Atlassian's 3LO: a test's own (extras["oauth"]) or one for --oauth-client ID:SECRET."""
    from deskhand.sim import jira_oauth

    if cfg.extras.get("oauth") is not None:
        return cfg.extras["oauth"]
    client = cfg.extras.get("oauth_client")
    if not client:
        return None
    cid, _, secret = str(client).partition(":")
    if not cid or not secret:
        raise ValueError("--oauth-client takes ID:SECRET")
    return jira_oauth.AtlassianAuth({cid: secret}, access_ttl_s=float(cfg.extras.get("oauth_access_ttl_s", 3600.0)))


def build(cfg: SimConfig) -> BuiltSim:
    from deskhand.sim import jira
    from deskhand.sim.jira_limits import RateLimits, endpoint_class
    from deskhand.sim.jira_seed import seed_issues
    from deskhand.sim.jira_state import JiraState

    state = cfg.state if cfg.state is not None else JiraState.default()
    if cfg.tickets:
        seed_issues(state, cfg.tickets, random.Random(cfg.seed), now=time.time())
    hourly, pool = cfg.extras.get("hourly_points"), cfg.extras.get("points_pool", "tenant")
    limits = RateLimits(hourly_points=hourly, points_pool=pool)
    if cfg.rate_limit:
        burst = {"GET": cfg.rate_limit, "POST": cfg.rate_limit, "PUT": 50, "DELETE": 50}
        limits = RateLimits(burst=burst, overrides={}, hourly_points=hourly, points_pool=pool)
    if not cfg.limits or cfg.extras.get("no_limits"):
        limits = RateLimits.off()
    delivery = jira.JiraWebhookDelivery(backoff_s=0.05, max_backoff_s=0.2) if cfg.quick_retries else None
    app = jira.create_app(state, token=cfg.token, webhook_url=cfg.webhook_url, webhook_secret=cfg.webhook_secret,
                          rate_limits=limits, webhook_delivery=delivery, oauth=(oauth := _auth_server(cfg)))

    def banner(url: str) -> list[str]:
        lines = [f"Jira simulator on {url}  (REST {url}/rest/api/3, JSM {url}/rest/servicedeskapi)",
                 f"  login: {jira.DEFAULT_EMAIL} / API token: {cfg.token}"]
        if cfg.webhook_url:
            signed = " (signed: X-Hub-Signature)" if cfg.webhook_secret else ""
            lines.append(f"  webhooks -> {cfg.webhook_url}{signed}")
        if oauth is not None:
            sites = ", ".join(f"{s.name}={s.cloud_id}" for s in oauth.sites)
            lines.append(f"  OAuth 2.0 (3LO): {url}/authorize, {url}/oauth/token; API {url}/ex/jira/<cloudid> "
                         f"({sites})")
        return lines

    # burst budgets are per endpoint class and per second
    return BuiltSim(app, state, close=app.state.sim.webhooks.close, bucket=endpoint_class, window_s=1.0,
                    banner=banner)


def connect(url: str, cfg: SimConfig, state: Any) -> dict[str, str]:
    from deskhand.sim.jira_state import DEFAULT_EMAIL, User

    if state is not None and ESCALATIONS not in state.users:
        state.add_user(User(account_id=ESCALATIONS, display_name="Escalations Desk",
                            email="escalations@acme.example", account_type="atlassian"))
    config = {"site": "acme", "email": DEFAULT_EMAIL, "api_token": cfg.token, "base_url": url,
              "project": "SUP", "teams": f"Escalations={ESCALATIONS}"}
    return config | ({"webhook_secret": cfg.webhook_secret} if cfg.webhook_secret else {})


def customer(config: dict[str, str]) -> dict[str, str]:
    return {**config, "email": CUSTOMER_EMAIL}  # customers raise requests as themselves


def truth(state: Any) -> tuple[list[tuple[str, str]], set[str], int]:
    from deskhand.sim.jira_adf import adf_to_text

    with state.lock:
        pairs = [
            ticket_truth(i.key, i.summary, i.status_obj.name, list(i.labels), i.updated,
                         [{"id": c.id, "body": adf_to_text(c.body), "public": not c.internal} for c in i.comments])
            for i in state.issues.values()
        ]
        return pairs, set(), sum(len(i.comments) for i in state.issues.values())


def _as(sim: RunningSim, email: str) -> Any:
    import httpx

    return httpx.Client(base_url=sim.url, auth=(email, sim.config.token), timeout=30.0)


def customer_says(sim: RunningSim, ticket_id: str, body: str) -> None:
    issue = sim.state.issue(ticket_id)
    reporter = sim.state.users[issue.reporter]
    with _as(sim, reporter.email) as http:
        http.post(f"/rest/servicedeskapi/request/{issue.key}/comment", json={"body": body, "public": True}
                  ).raise_for_status()


def agent_says(sim: RunningSim, ticket_id: str, body: str, public: bool, status: str | None) -> None:
    from deskhand.sim.jira_state import DEFAULT_EMAIL

    with _as(sim, DEFAULT_EMAIL) as http:
        http.post(f"/rest/servicedeskapi/request/{ticket_id}/comment", json={"body": body, "public": public}
                  ).raise_for_status()
    if status:
        set_status(sim, ticket_id, status)


def set_status(sim: RunningSim, ticket_id: str, status: str) -> None:
    from deskhand.sim.jira_state import DEFAULT_EMAIL

    with _as(sim, DEFAULT_EMAIL) as http:
        moves = http.get(f"/rest/api/3/issue/{ticket_id}/transitions").raise_for_status().json()["transitions"]
        move = next((t for t in moves if t["to"]["name"] == STATUS[status]), None)
        if move is None:
            raise ValueError(f"issue {ticket_id} has no transition to {STATUS[status]!r}")
        http.post(f"/rest/api/3/issue/{ticket_id}/transitions", json={"transition": {"id": move["id"]}}
                  ).raise_for_status()


def signed_delivery(delivery_id: str, secret: str) -> tuple[bytes, dict[str, str]]:
    """A ``jira:issue_created`` delivery, signed as Jira signs admin webhooks (X-Hub-Signature), sent
    now (its ``timestamp``, ms, is inside the signed body). Jira's delivery id header is not signed, so
    receivers tell deliveries apart by their body: the id is also the issue's, one issue per delivery."""
    from deskhand.sim.jira_webhooks import sign

    issue = {"id": delivery_id, "key": f"SUP-{delivery_id}", "fields": {
        "summary": "How do I reset my password?", "status": {"name": "Open", "statusCategory": {"key": "new"}},
        "reporter": {"accountId": "qm:0c5e7d1a-cust-0001", "displayName": "Cara Customer"}, "labels": []}}
    body = json.dumps({"timestamp": int(time.time() * 1000), "webhookEvent": "jira:issue_created",
                       "issue_event_type_name": "issue_created", "issue": issue}, separators=(",", ":")).encode()
    return body, {"Content-Type": "application/json; charset=utf-8", "X-Atlassian-Webhook-Identifier": delivery_id,
                  "X-Hub-Signature": sign(secret, body)}


register("jira", SimSpec(
    slug="jira", title="A local Jira Cloud + Jira Service Management (Basic {email}:{token}; REST v2, v3, "
                       "servicedeskapi).", port=8082,
    build=build, connect=connect, customer=customer, truth=truth,
    customer_says=customer_says, agent_says=agent_says, set_status=set_status, signed_delivery=signed_delivery,
    names_requester=False,
    rate_limit_help="Burst limit: GET requests per second per endpoint (default: Jira's documented limits).",
    options=(
        SimOption("hourly_points", int, None, "Points-based hourly quota (off by default)."),
        SimOption("points_pool", str, "tenant", "tenant | global (RateLimit-Reason of the quota)."),
        SimOption("no_limits", bool, False, "Answer every request (no 429s)."),
        SimOption("oauth_client", str, None, "ID:SECRET of an OAuth 2.0 (3LO) app: serve /authorize (auto-approving), "
                  "/oauth/token, /oauth/token/accessible-resources and the API at /ex/jira/<cloudid>."),
        SimOption("oauth_access_ttl_s", float, 3600.0, "Lifetime of the 3LO access tokens it issues."),
    ),
))
