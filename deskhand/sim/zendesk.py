"""Faithful local simulator of the Zendesk Support API v2 (the parts a ticket auto-responder uses).

In-process (tests, demo)::

    with start(token="t") as sim:          # a SimServer with .state (ZendeskState) and .delivery
        os.environ["ZENPY_FORCE_NETLOC"] = f"127.0.0.1:{sim.port}"; ...

CLI: ``deskhand sim zendesk --port N`` calls :func:`serve`. Auth is Basic ``{any email}/token:{T}``
(or ``Bearer T``); the default token is ``deskhand-sim-token``. Paths work with and without
``.json``. Every /api/v2 request counts against a per-account per-minute limit (``X-Rate-Limit*``
headers, 429 + integer ``Retry-After``); incremental exports also have their own 10/min limit.
Shapes follow the real API (see FACTS.md §1 and shared/fixtures/zendesk); modules:
``zendesk_state`` (data + events), ``zendesk_pages`` (pagination, exports), ``zendesk_search``
(query language), ``zendesk_webhooks`` (Webhooks API + signed deliveries).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from deskhand.sim.base import (
    FixedWindowLimiter,
    LimitResult,
    SimServer,
    WebhookDelivery,
    parse_basic_auth,
    parse_bearer,
    run_forever,
)
from deskhand.sim.oauth_server import AuthServer
from deskhand.sim.zendesk_help_center import routes as help_center_routes
from deskhand.sim.zendesk_oauth import FORBIDDEN
from deskhand.sim.zendesk_oauth import SCOPES as OAUTH_SCOPES
from deskhand.sim.zendesk_oauth import routes as oauth_routes
from deskhand.sim.zendesk_pages import export_cursor, export_time, link, paginate
from deskhand.sim.zendesk_search import search
from deskhand.sim.zendesk_state import ZendeskError, ZendeskState, not_found, public
from deskhand.sim.zendesk_webhooks import Dispatcher, add_webhook
from deskhand.sim.zendesk_webhooks import routes as webhook_routes

DEFAULT_TOKEN = "deskhand-sim-token"
DEFAULT_EMAIL = "admin@deskhand.test"
INCREMENTAL_LIMIT = 10
SEARCH_LIMIT = 1000
Handler = Callable[[Request], Awaitable[Response]]


class _JsonSuffix:
    """Serve ``/x.json`` as ``/x``, remembering the spelling (``zendesk.path``) for absolute links."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith(".json"):
            scope = {**scope, "zendesk.path": scope["path"], "path": scope["path"][:-5]}
        await self.app(scope, receive, send)


def _limit_headers(result: LimitResult, ticketing: bool) -> dict[str, str]:
    headers = {"X-Rate-Limit": str(result.limit), "X-Rate-Limit-Remaining": str(result.remaining)}
    if ticketing:
        headers |= {"ratelimit-limit": str(result.limit), "ratelimit-remaining": str(result.remaining),
                    "ratelimit-reset": str(result.reset_s)}
    return headers


def _too_many(result: LimitResult, headers: dict[str, str], what: str) -> Response:
    body = {"error": "APIRateLimitExceeded", "description": f"Number of allowed {what} per minute exceeded"}
    return JSONResponse(body, status_code=429, headers={**headers, "Retry-After": str(result.reset_s)})


class Gate:
    """Auth + rate limits around every /api/v2 request (an ASGI middleware in function form)."""

    def __init__(self, state: ZendeskState, token: str, limiter: FixedWindowLimiter,
                 incremental: FixedWindowLimiter, oauth: AuthServer | None = None):
        self.state, self.token, self.limiter, self.incremental = state, token, limiter, incremental
        self.oauth = oauth  # OAuth access tokens are accepted as Bearer too (expired/revoked: 401)

    def authenticate(self, request: Request) -> str | None:
        """The caller's email (``""`` for Bearer), or None when the credentials are wrong."""
        header = request.headers.get("authorization")
        if parse_bearer(header) == self.token:
            return ""
        if self.oauth is not None and self.oauth.access_ok(parse_bearer(header)):
            return ""  # its scopes are checked in __call__
        basic = parse_basic_auth(header)
        if basic and basic[0].endswith("/token") and basic[1] == self.token:
            return basic[0][: -len("/token")]
        return None

    async def __call__(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if not path.startswith("/api/v2"):
            return await call_next(request)
        email = self.authenticate(request)
        if email is None:
            return JSONResponse({"error": "Couldn't authenticate you"}, status_code=401,
                                headers={"WWW-Authenticate": 'Basic realm="Web Password"'})
        if self.oauth is not None and email == "" and parse_bearer(request.headers.get("authorization")) != self.token:
            verdict = self.oauth.check(parse_bearer(request.headers.get("authorization")), request.method, path,
                                       OAUTH_SCOPES)
            if verdict.problem == "scope":
                return JSONResponse(FORBIDDEN, status_code=403)
        request.state.actor = self.state.acting_user(email)
        ticketing = path.startswith(("/api/v2/tickets", "/api/v2/search", "/api/v2/incremental"))
        result = self.limiter.hit("account")
        headers = _limit_headers(result, ticketing)
        if not result.allowed:
            return _too_many(result, headers, "API requests")
        if path.startswith("/api/v2/incremental"):
            export = self.incremental.hit("account")
            if not export.allowed:
                return _too_many(export, headers, "incremental export API requests")
        response = await call_next(request)
        response.headers.update(headers)
        return response


def _ticket_routes(state: ZendeskState, render_ticket: Callable[[Request], Callable[..., Any]]) -> list[Route]:
    def tid(request: Request) -> int:
        return int(request.path_params["ticket_id"])

    async def index(request: Request) -> Response:
        with state.lock:
            tickets = sorted(state.tickets.values(), key=lambda t: t["id"])
        return JSONResponse(paginate(request, "tickets", tickets, render_ticket(request)))

    async def show(request: Request) -> Response:
        return JSONResponse({"ticket": render_ticket(request)(state.get_ticket(tid(request)))})

    async def show_many(request: Request) -> Response:
        ids = [int(i) for i in request.query_params.get("ids", "").split(",") if i.strip().isdigit()]
        with state.lock:
            found = [state.tickets[i] for i in ids if i in state.tickets]
        return JSONResponse(paginate(request, "tickets", found, render_ticket(request)))

    async def create(request: Request) -> Response:
        data = (await request.json()).get("ticket") or {}
        ticket, audit = state.create_ticket(data, request.state.actor)
        shown = render_ticket(request)(ticket)
        return JSONResponse({"ticket": shown, "audit": audit}, status_code=201,
                            headers={"Location": shown["url"]})

    async def update(request: Request) -> Response:
        data = (await request.json()).get("ticket") or {}
        ticket, audit = state.update_ticket(tid(request), data, request.state.actor)
        return JSONResponse({"ticket": render_ticket(request)(ticket), "audit": audit})

    async def delete(request: Request) -> Response:
        state.delete_ticket(tid(request), request.state.actor)
        return Response(status_code=204)

    async def tags(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"tags": state.get_ticket(tid(request))["tags"]})
        body = await request.json() if await request.body() else {}
        mode = {"PUT": "add", "POST": "set", "DELETE": "remove"}[request.method]
        return JSONResponse({"tags": state.set_tags(tid(request), body.get("tags") or [], mode,
                                                    request.state.actor)})

    async def comments(request: Request) -> Response:
        items = state.list_comments(tid(request))
        if request.query_params.get("sort_order") == "desc":
            items.reverse()
        return JSONResponse(paginate(request, "comments", items, public))

    async def audits(request: Request) -> Response:
        return JSONResponse(paginate(request, "audits", state.list_audits(tid(request)), public))

    async def deleted(request: Request) -> Response:
        with state.lock:
            rows = sorted(state.deleted.values(), key=lambda t: t["id"])
        return JSONResponse(paginate(request, "deleted_tickets", rows, lambda t: {
            k: t[k] for k in ("id", "subject", "description", "created_at", "updated_at")}
            | {"actor": {"id": state.admin["id"], "name": state.admin["name"]}, "deleted_at": t["updated_at"]}))

    one = "/api/v2/tickets/{ticket_id:int}"
    return [
        Route("/api/v2/tickets", index, methods=["GET"]),
        Route("/api/v2/tickets", create, methods=["POST"]),
        Route("/api/v2/tickets/show_many", show_many, methods=["GET"]),
        Route(one, show, methods=["GET"]),
        Route(one, update, methods=["PUT"]),
        Route(one, delete, methods=["DELETE"]),
        Route(one + "/tags", tags, methods=["GET", "PUT", "POST", "DELETE"]),
        Route(one + "/comments", comments, methods=["GET"]),
        Route(one + "/audits", audits, methods=["GET"]),
        Route("/api/v2/deleted_tickets", deleted, methods=["GET"]),
    ]


def _directory_routes(state: ZendeskState) -> list[Route]:
    def with_url(kind: str, request: Request) -> Callable[[dict[str, Any]], dict[str, Any]]:
        base = f"{request.url.scheme}://{request.url.netloc}/api/v2/{kind}"
        return lambda r: {"url": f"{base}/{r['id']}.json", **public(r)}

    async def users(request: Request) -> Response:
        roles = request.query_params.getlist("role[]") or request.query_params.getlist("role")
        with state.lock:
            rows = [u for u in sorted(state.users.values(), key=lambda u: u["id"])
                    if not roles or u["role"] in roles]
        return JSONResponse(paginate(request, "users", rows, with_url("users", request)))

    async def user(request: Request) -> Response:
        found = state.users.get(int(request.path_params["user_id"]))
        if found is None:
            raise not_found()
        return JSONResponse({"user": with_url("users", request)(found)})

    async def me(request: Request) -> Response:
        return JSONResponse({"user": with_url("users", request)(request.state.actor)})

    async def user_search(request: Request) -> Response:
        q = request.query_params
        query, external = (q.get("query") or "").lower(), q.get("external_id")
        with state.lock:
            rows = [u for u in sorted(state.users.values(), key=lambda u: u["id"])
                    if (external is None or u["external_id"] == external)
                    and (not query or query in f"{u['name']} {u['email']}".lower())]
        return JSONResponse(paginate(request, "users", rows, with_url("users", request)))

    async def create_user(request: Request) -> Response:
        data = (await request.json()).get("user") or {}
        return JSONResponse({"user": with_url("users", request)(state.create_user(data))}, status_code=201)

    def listing(kind: str, records: dict[int, dict[str, Any]]) -> tuple[Handler, Handler]:
        async def index(request: Request) -> Response:
            with state.lock:
                rows = sorted(records.values(), key=lambda r: r["id"])
            return JSONResponse(paginate(request, kind, rows, with_url(kind, request)))

        async def show(request: Request) -> Response:
            found = records.get(int(request.path_params["record_id"]))
            if found is None:
                raise not_found()
            return JSONResponse({kind[:-1]: with_url(kind, request)(found)})

        return index, show

    async def tags(request: Request) -> Response:
        counts: dict[str, int] = {}
        with state.lock:
            for t in state.tickets.values():
                for tag in t["tags"]:
                    counts[tag] = counts.get(tag, 0) + 1
        rows = [{"id": i, "name": n, "count": c} for i, (n, c) in enumerate(sorted(counts.items()), 1)]
        return JSONResponse(paginate(request, "tags", rows, lambda r: {"name": r["name"], "count": r["count"]}))

    routes = [
        Route("/api/v2/users", users, methods=["GET"]),
        Route("/api/v2/users", create_user, methods=["POST"]),
        Route("/api/v2/users/me", me, methods=["GET"]),
        Route("/api/v2/users/search", user_search, methods=["GET"]),
        Route("/api/v2/users/{user_id:int}", user, methods=["GET"]),
        Route("/api/v2/tags", tags, methods=["GET"]),
    ]
    for kind, records in (("groups", state.groups), ("organizations", state.organizations)):
        index, show = listing(kind, records)
        routes += [Route(f"/api/v2/{kind}", index, methods=["GET"]),
                   Route(f"/api/v2/{kind}/{{record_id:int}}", show, methods=["GET"])]
    return routes


def _query_routes(state: ZendeskState, render_ticket: Callable[[Request], Callable[..., Any]],
                  lag_s: float) -> list[Route]:
    async def search_endpoint(request: Request) -> Response:
        q = request.query_params
        results = search(state, q.get("query", ""), request.state.actor["id"], q.get("sort_by"),
                         q.get("sort_order", "desc"))
        page, per_page = max(1, int(q.get("page", 1))), max(1, min(100, int(q.get("per_page", 100))))
        if page * per_page > SEARCH_LIMIT:
            raise ZendeskError(422, {"error": "invalid", "description": "Invalid search: Requested response "
                                     "size was greater than Search Response Limits"})
        render = render_ticket(request)
        chunk = results[(page - 1) * per_page: page * per_page]
        more = page * per_page < len(results) and (page + 1) * per_page <= SEARCH_LIMIT
        return JSONResponse({
            "results": [{**(render(r) if kind == "ticket" else public(r)), "result_type": kind}
                        for kind, r in chunk],
            "facets": None,
            "next_page": link(request, {"page": page + 1, "per_page": per_page}) if more else None,
            "previous_page": link(request, {"page": page - 1, "per_page": per_page}) if page > 1 else None,
            "count": len(results),
        })

    async def export_by_cursor(request: Request) -> Response:
        return JSONResponse(export_cursor(request, state.changed_tickets(), render_ticket(request),
                                          now=state.clock(), lag_s=lag_s))

    async def export_by_time(request: Request) -> Response:
        return JSONResponse(export_time(request, state.changed_tickets(), render_ticket(request),
                                        now=state.clock(), lag_s=lag_s))

    return [
        Route("/api/v2/search", search_endpoint, methods=["GET"]),
        Route("/api/v2/incremental/tickets/cursor", export_by_cursor, methods=["GET"]),
        Route("/api/v2/incremental/tickets", export_by_time, methods=["GET"]),
    ]


def create_app(
    state: ZendeskState | None = None,
    *,
    token: str = DEFAULT_TOKEN,
    rate_limit: int = 700,
    window_s: float = 60.0,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    clock: Callable[[], float] | None = None,
    incremental_lag_s: float = 60.0,
    delivery: WebhookDelivery | None = None,
    oauth: AuthServer | None = None,
) -> Starlette:
    """The simulator as an ASGI app; ``app.state.zendesk`` and ``app.state.delivery`` expose its parts.

    ``clock`` (Unix seconds) drives timestamps and rate-limit windows; ``incremental_lag_s`` hides
    changes younger than that from incremental exports (60 s like Zendesk; 0 in tests).
    ``oauth`` (deskhand.sim.zendesk_oauth.auth_server) serves /oauth/* and its access tokens open the API.
    """
    clock = clock or (state.clock if state else time.time)
    state = state or ZendeskState(clock=clock)
    delivery = delivery or WebhookDelivery()
    state.listeners.append(Dispatcher(state, delivery))
    if webhook_url:
        add_webhook(state, webhook_url, secret=webhook_secret)

    def render_ticket(request: Request) -> Callable[[dict[str, Any]], dict[str, Any]]:
        base = f"{request.url.scheme}://{request.url.netloc}/api/v2/tickets"
        return lambda t: {"url": f"{base}/{t['id']}.json", **public(t)}

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ZendeskError)
        return JSONResponse(exc.body, status_code=exc.status)

    async def on_bad_json(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": "InvalidValue", "description": str(exc)}, status_code=400)

    routes = [*_ticket_routes(state, render_ticket), *_directory_routes(state),
              *_query_routes(state, render_ticket, incremental_lag_s), *webhook_routes(state),
              *help_center_routes(state), *(oauth_routes(oauth) if oauth is not None else [])]
    app = Starlette(routes=routes, exception_handlers={ZendeskError: on_error, ValueError: on_bad_json})
    gate = Gate(state, token, FixedWindowLimiter(rate_limit, window_s, clock),
                FixedWindowLimiter(INCREMENTAL_LIMIT, window_s, clock), oauth)
    app.add_middleware(BaseHTTPMiddleware, dispatch=gate)
    app.add_middleware(_JsonSuffix)  # added last = runs first
    app.state.zendesk, app.state.delivery, app.state.oauth = state, delivery, oauth
    return app


class ZendeskSim(SimServer):
    """A running simulator: ``.url``, ``.port``, ``.state`` (ZendeskState), ``.delivery``."""

    state: ZendeskState
    delivery: WebhookDelivery

    def stop(self, timeout: float = 5.0) -> None:
        super().stop(timeout)
        self.delivery.close()


def start(state: ZendeskState | None = None, *, host: str = "127.0.0.1", port: int = 0,
          **options: Any) -> ZendeskSim:
    """Start the simulator on a background thread (options as :func:`create_app`)."""
    app = create_app(state, **options)
    sim = ZendeskSim(app, host, port)
    sim.state, sim.delivery = app.state.zendesk, app.state.delivery
    return sim.start()  # type: ignore[return-value]


def serve(port: int = 8081, *, host: str = "127.0.0.1", token: str = DEFAULT_TOKEN,
          webhook_url: str | None = None, webhook_secret: str | None = None, rate_limit: int = 700,
          state: ZendeskState | None = None, **options: Any) -> None:
    """Run in the foreground until Ctrl-C (``deskhand sim zendesk``); prints how to connect."""
    state = state or ZendeskState(admin_email=DEFAULT_EMAIL)
    app = create_app(state, token=token, webhook_url=webhook_url, webhook_secret=webhook_secret,
                     rate_limit=rate_limit, **options)

    def banner(url: str) -> None:
        print(f"Zendesk simulator on {url}/api/v2  (subdomain 'sim')")
        print(f"  auth: email {DEFAULT_EMAIL} (any works), api token {token}")
        print(f"  zenpy: ZENPY_FORCE_NETLOC={url.split('://')[1]} ZENPY_FORCE_SCHEME=http")
        for hook in state.webhooks.values():
            print(f"  webhook {hook['id']} -> {hook['endpoint']} ({len(hook['subscriptions'])} event types)")

    try:
        run_forever(app, host, port, on_ready=banner)
    finally:
        app.state.delivery.close()
