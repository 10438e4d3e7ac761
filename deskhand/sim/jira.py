"""A faithful local simulator of Jira Cloud (REST v2/v3/latest) + Jira Service Management.

Real clients (`jira`, `atlassian-python-api`) work against it unchanged:

    from deskhand.sim.jira import start
    server = start()                      # http://127.0.0.1:<port>, login agent@deskhand.test
    JIRA(server=server.url, basic_auth=("agent@deskhand.test", "deskhand-sim-token"))
    server.stop()

What it does like Jira: Basic `email:api_token` (or Bearer token) auth; v3 takes and returns ADF,
v2/latest wiki-markup strings; statuses only move through the project's workflow transitions
(invalid → 400); `search/jql` pages with `nextPageToken`/`isLast`, classic `search` with
`startAt`/`total`, both on the JQL subset of `deskhand.sim.jql`; JSM requests and request comments
(`public: false` = internal, read back as `jsdPublic`); admin webhooks (`jira:issue_created`,
`jira:issue_updated` with changelog, `comment_created`) signed with `X-Hub-Signature` and retried as
Jira retries; burst, per-issue write and hourly points limits answering 429 with `Retry-After`,
`X-RateLimit-Reset` and `RateLimit-Reason`. Modules: `jira_state` (data), `jira_render` (JSON),
`jira_read` / `jira_issues` / `jira_jsm` (routes), `jira_limits`, `jira_webhooks`, `jira_http`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount, Route

from deskhand.sim import jira_issues as issues
from deskhand.sim import jira_jsm as jsm
from deskhand.sim import jira_read as read
from deskhand.sim.base import SimServer, WebhookDelivery, run_forever
from deskhand.sim.jira_http import JiraSim, endpoint
from deskhand.sim.jira_limits import Limiter, RateLimits
from deskhand.sim.jira_oauth import GATEWAY, AtlassianAuth
from deskhand.sim.jira_state import DEFAULT_EMAIL, DEFAULT_TOKEN, JiraState
from deskhand.sim.jira_webhooks import EVENTS, JiraWebhookDelivery, Webhooks

__all__ = ["DEFAULT_EMAIL", "DEFAULT_TOKEN", "JiraSimServer", "JiraState", "JiraWebhookDelivery", "RateLimits",
           "create_app", "serve", "start"]

API = "/rest/api/{version}"
SD = "/rest/servicedeskapi"


def _routes() -> list[Route]:
    def r(path: str, handler: Callable[..., Any], methods: list[str], **kw: Any) -> Route:
        return Route(path, endpoint(handler, **kw), methods=methods)

    return [
        r(f"{API}/serverInfo", read.server_info, ["GET"], auth=False),
        r(f"{API}/myself", read.myself, ["GET"]),
        r(f"{API}/user", read.get_user, ["GET"]),
        r(f"{API}/user/search", read.search_users, ["GET"]),
        r(f"{API}/users/search", read.search_users, ["GET"]),
        r(f"{API}/users", read.search_users, ["GET"]),
        r(f"{API}/project", read.list_projects, ["GET"]),
        r(f"{API}/project/search", read.search_projects, ["GET"]),
        r(f"{API}/project/{{project}}", read.get_project, ["GET"]),
        r(f"{API}/priority", read.priorities, ["GET"]),
        r(f"{API}/status", read.statuses, ["GET"]),
        r(f"{API}/statuscategory", read.status_categories, ["GET"]),
        r(f"{API}/issuetype", read.issue_types, ["GET"]),
        r(f"{API}/field", read.fields, ["GET"]),
        r(f"{API}/search/jql", read.search_jql, ["GET", "POST"]),
        r(f"{API}/search/approximate-count", read.approximate_count, ["POST"]),
        r(f"{API}/search", read.search_classic, ["GET", "POST"]),
        r(f"{API}/issue", issues.create_issue, ["POST"]),
        r(f"{API}/issue/{{key}}", read.get_issue, ["GET"]),
        r(f"{API}/issue/{{key}}", issues.edit_issue, ["PUT"], write_issue=True),
        r(f"{API}/issue/{{key}}", issues.delete_issue, ["DELETE"], write_issue=True),
        r(f"{API}/issue/{{key}}/assignee", issues.assign_issue, ["PUT"], write_issue=True),
        r(f"{API}/issue/{{key}}/comment", issues.list_comments, ["GET"]),
        r(f"{API}/issue/{{key}}/comment", issues.add_comment, ["POST"], write_issue=True),
        r(f"{API}/issue/{{key}}/comment/{{comment_id}}", issues.get_comment, ["GET"]),
        r(f"{API}/issue/{{key}}/transitions", issues.list_transitions, ["GET"]),
        r(f"{API}/issue/{{key}}/transitions", issues.do_transition, ["POST"], write_issue=True),
        r(f"{SD}/info", jsm.info, ["GET"]),
        r(f"{SD}/servicedesk", jsm.list_desks, ["GET"]),
        r(f"{SD}/servicedesk/{{desk}}", jsm.get_desk, ["GET"]),
        r(f"{SD}/servicedesk/{{desk}}/requesttype", jsm.request_types, ["GET"]),
        r(f"{SD}/request", jsm.list_requests, ["GET"]),
        r(f"{SD}/request", jsm.create_request, ["POST"]),
        r(f"{SD}/request/{{key}}", jsm.get_request, ["GET"]),
        r(f"{SD}/request/{{key}}/comment", jsm.list_request_comments, ["GET"]),
        r(f"{SD}/request/{{key}}/comment", jsm.add_request_comment, ["POST"], write_issue=True),
        r(f"{SD}/request/{{key}}/feedback", jsm.get_feedback, ["GET"]),
        r(f"{SD}/request/{{key}}/feedback", jsm.post_feedback, ["POST"], write_issue=True),
        r(f"{SD}/request/{{key}}/transition", jsm.list_request_transitions, ["GET"]),
        r(f"{SD}/request/{{key}}/transition", jsm.do_request_transition, ["POST"], write_issue=True),
    ]


def create_app(
    state: JiraState | None = None,
    *,
    token: str = DEFAULT_TOKEN,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    webhook_events: tuple[str, ...] = EVENTS,
    webhook_delivery: WebhookDelivery | None = None,
    rate_limits: RateLimits | None = None,
    clock: Callable[[], float] | None = None,
    oauth: AtlassianAuth | None = None,
) -> Starlette:
    """The ASGI app. `app.state.sim` is the `JiraSim` (state, limiter, webhooks, clock).

    `oauth` (deskhand.sim.jira_oauth.AtlassianAuth) plays Atlassian's 3LO: /authorize, /oauth/token,
    /oauth/token/accessible-resources, and the API gateway /ex/jira/{cloudid}/rest/… with scopes.

    `rate_limits` defaults to Jira's documented burst and per-issue limits (`RateLimits.off()` to
    disable); `webhook_delivery` replaces the default `JiraWebhookDelivery` (e.g. faster backoff).
    """
    clock = clock or time.time
    sim = JiraSim(
        state=state if state is not None else JiraState.default(),
        token=token,
        limiter=Limiter(rate_limits if rate_limits is not None else RateLimits(), clock),
        webhooks=Webhooks(webhook_url, webhook_secret, events=webhook_events, delivery=webhook_delivery),
        clock=clock,
        oauth=oauth,
    )
    routes: list[Route | Mount] = [*_routes()]
    if oauth is not None:
        routes += [*oauth.routes(), Mount(GATEWAY, routes=_routes())]
    app = Starlette(routes=routes)
    app.state.sim = sim
    return app


class JiraSimServer(SimServer):
    """SimServer with the simulator at hand: `.sim`, `.state`, `.webhooks`; stop() also ends deliveries."""

    def __init__(self, app: Starlette, host: str, port: int):
        super().__init__(app, host, port)
        self.sim: JiraSim = app.state.sim
        self.state: JiraState = self.sim.state
        self.webhooks: Webhooks = self.sim.webhooks

    def stop(self, timeout: float = 5.0) -> None:
        super().stop(timeout)
        self.webhooks.close()


def start(state: JiraState | None = None, *, host: str = "127.0.0.1", port: int = 0, **kw: Any) -> JiraSimServer:
    """Run the simulator on a background thread; returns once it accepts connections."""
    server = JiraSimServer(create_app(state, **kw), host, port)
    server.start()
    return server


def serve(port: int = 8082, *, host: str = "127.0.0.1", token: str = DEFAULT_TOKEN, webhook_url: str | None = None,
          webhook_secret: str | None = None, state: JiraState | None = None, **kw: Any) -> None:
    """Serve in the foreground (CLI `deskhand sim jira`); prints the base URL and the login."""
    app = create_app(state, token=token, webhook_url=webhook_url, webhook_secret=webhook_secret, **kw)

    def ready(url: str) -> None:
        print(f"Jira simulator on {url}  (REST {url}/rest/api/3, JSM {url}/rest/servicedeskapi)")
        print(f"  login: {DEFAULT_EMAIL} / API token: {token}")
        if webhook_url:
            print(f"  webhooks -> {webhook_url}" + (" (signed: X-Hub-Signature)" if webhook_secret else ""))

    try:
        run_forever(app, host, port, on_ready=ready)
    finally:
        app.state.sim.webhooks.close()
