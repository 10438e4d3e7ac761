"""Faithful local simulator of the ServiceNow Table API (``incident`` and the tables around it).

In-process (tests, demo)::

    sim = registry.get("servicenow").start(SimConfig(tickets=30))
    client = pysnow.Client(host=sim.url.removeprefix("http://"), use_ssl=False, user="admin", password=token)

CLI: ``deskhand sim servicenow --port N`` (deskhand.sim.servicenow_spec). Auth is Basic (user
``admin``, password = the registry's token). ``/api/now/table/{table}[/{sys_id}]`` with GET, POST,
PUT/PATCH (both partial updates), DELETE; ``{"result": …}`` bodies, errors as
``{"error": {"message", "detail"}, "status": "failure"}``. Lists take ``sysparm_query`` (see
:mod:`deskhand.sim.servicenow_query`), ``sysparm_limit`` (default 10000) / ``sysparm_offset``,
``sysparm_fields``, ``sysparm_display_value`` (true | false | all), ``sysparm_exclude_reference_link``
and ``sysparm_suppress_pagination_header`` (drops ``Link``, keeps ``X-Total-Count``). Rate limits are
a rate-limit rule in requests per hour per user (``X-RateLimit-Limit``/``-Reset`` (Unix time)/``-Rule``,
429 with ``Retry-After``). Shapes follow FACTS.md §5 and §12.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from deskhand.sim.base import FixedWindowLimiter, base_url, parse_basic_auth, parse_bearer
from deskhand.sim.servicenow_oauth import CodeFlow, OAuthTokens, oauth_routes
from deskhand.sim.servicenow_query import matcher, ordered, parse
from deskhand.sim.servicenow_state import (
    CHOICES,
    COLUMNS,
    DISPLAY_FIELD,
    JOURNALS,
    REFERENCES,
    Record,
    Refused,
    ServiceNowState,
)

DEFAULT_LIMIT = 10000
RULE_SYS_ID = "5e2b0a1c0f2a3010a1b2c3d4e5f60718"  # the sys_id of the simulator's rate-limit rule


def failure(status: int, message: str, detail: str | None = None, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": {"message": message, "detail": detail}, "status": "failure"}, status, headers)


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").lower() == "true"


class Renderer:
    """A raw record as the Table API shows it under the request's ``sysparm_*`` options."""

    def __init__(self, state: ServiceNowState, request: Request, table: str):
        self.state, self.table, self.root = state, table, base_url(request)
        mode = request.query_params.get("sysparm_display_value", "false").lower()
        self.mode = mode if mode in ("true", "all") else "false"
        self.links = not _flag(request, "sysparm_exclude_reference_link")
        wanted = [f.strip() for f in request.query_params.get("sysparm_fields", "").split(",") if f.strip()]
        self.fields = [f for f in wanted if f in COLUMNS[table]] if wanted else list(COLUMNS[table])

    def _display(self, name: str, row: Record) -> str:
        value = row[name]
        target = REFERENCES.get(self.table, {}).get(name)
        if target:
            ref = self.state.tables[target].get(value)
            return ref[DISPLAY_FIELD[target]] if ref else ""
        if name in JOURNALS and self.table == "incident":
            return self.state.journal_text(row["sys_id"], name)
        if name == "sys_tags" and self.table == "incident":
            return ", ".join(self.state.tags(row["sys_id"]))
        return CHOICES.get(name, {}).get(value, value) if self.table == "incident" else value

    def field(self, name: str, row: Record) -> Any:
        value = row[name]
        target = REFERENCES.get(self.table, {}).get(name)
        link = f"{self.root}/api/now/table/{target}/{value}" if target and value and self.links else None
        if self.mode == "false":
            return {"link": link, "value": value} if link else value
        shown = self._display(name, row)
        if self.mode == "true":
            return {"display_value": shown, "link": link} if link else shown
        return {"display_value": shown, "value": value, **({"link": link} if link else {})}

    def __call__(self, row: Record) -> dict[str, Any]:
        return {name: self.field(name, row) for name in self.fields}


def _text_of(row: Record) -> str:
    return " ".join(row.get(k, "") for k in ("number", "short_description", "description", "name", "value", "email"))


def _int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    try:
        return default if raw in (None, "") else int(raw)
    except ValueError:
        raise Refused(400, f"Invalid {name} value", f"{name} must be an integer, got {raw!r}") from None


def _links(request: Request, offset: int, limit: int, total: int) -> str:
    def at(where: int) -> str:
        params = {**dict(request.query_params), "sysparm_limit": str(limit), "sysparm_offset": str(where)}
        return f"<{base_url(request)}{request.url.path}?{urlencode(params, safe=',:^=')}>"

    last = max(0, math.ceil(total / limit) * limit - limit) if limit else 0
    parts = [f'{at(0)};rel="first"', f'{at(offset - limit)};rel="prev"']
    if offset + limit < total:
        parts.append(f'{at(offset + limit)};rel="next"')
    parts.append(f'{at(last)};rel="last"')
    return ",".join(parts)


def create_app(state: ServiceNowState, *, rate_limit: int | None = None, window_s: float = 3600.0,
               oauth: OAuthTokens | None = None, code_flow: CodeFlow | None = None) -> Starlette:
    """The Table API over `state`; `rate_limit`: a rule of that many requests per hour (`window_s`) per
    user, counted on the state's clock (Unix seconds: ``X-RateLimit-Reset`` is read from it too);
    `oauth`: ``/oauth_token.do`` and Bearer tokens besides Basic auth; `code_flow`: the authorisation
    code grant too (``/oauth_auth.do``), its tokens acting as its user."""
    limiter = FixedWindowLimiter(rate_limit, window_s, state.clock) if rate_limit else None

    def table_of(request: Request) -> str:
        table = request.path_params["table"]
        if table not in COLUMNS:
            raise Refused(400, f"Invalid table {table}", None)
        return table

    async def payload(request: Request) -> dict[str, Any]:
        try:
            data = json.loads(await request.body() or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise Refused(400, "Exception while reading request", "The payload is not valid JSON.") from None
        if not isinstance(data, dict):
            raise Refused(400, "Exception while reading request", "Expected a JSON object of field values.")
        return data

    async def listing(request: Request) -> Response:
        table = table_of(request)
        limit, offset = _int(request, "sysparm_limit", DEFAULT_LIMIT), _int(request, "sysparm_offset", 0)
        query = parse(request.query_params.get("sysparm_query", ""))
        with state.lock:
            test = matcher(query, set(COLUMNS[table]), _text_of)
            rows = ordered((r for r in state.tables[table].values() if test(r)), query.order)
            render = Renderer(state, request, table)
            page = [render(r) for r in rows[max(0, offset): max(0, offset) + max(0, limit)]]
        headers = {"X-Total-Count": str(len(rows))}
        if not _flag(request, "sysparm_suppress_pagination_header") and limit > 0:
            headers["Link"] = _links(request, offset, limit, len(rows))
        return JSONResponse({"result": page}, headers=headers)

    def one(table: str, sys_id: str) -> Record:
        row = state.tables[table].get(sys_id)
        if row is None:
            raise Refused(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
        return row

    async def show(request: Request) -> Response:
        table = table_of(request)
        with state.lock:
            return JSONResponse({"result": Renderer(state, request, table)(one(table, request.path_params["sys_id"]))})

    async def create(request: Request) -> Response:
        table, values = table_of(request), await payload(request)
        row = state.insert(table, values, request.state.user)
        with state.lock:
            return JSONResponse({"result": Renderer(state, request, table)(row)}, 201,
                                {"Location": f"{base_url(request)}/api/now/table/{table}/{row['sys_id']}"})

    async def update(request: Request) -> Response:
        table, values = table_of(request), await payload(request)
        sys_id = request.path_params["sys_id"]
        if table == "incident":
            row = state.update_incident(sys_id, values, request.state.user)
        else:
            with state.lock:
                row = one(table, sys_id)
                row.update({k: str(v) for k, v in values.items() if k in COLUMNS[table] and not k.startswith("sys_")})
        with state.lock:
            return JSONResponse({"result": Renderer(state, request, table)(row)})

    async def remove(request: Request) -> Response:
        state.delete(table_of(request), request.path_params["sys_id"], request.state.user)
        return Response(status_code=204)

    async def guard(request: Request, handler: Callable[[Request], Any]) -> Response:
        creds = parse_basic_auth(request.headers.get("authorization"))
        bearer = parse_bearer(request.headers.get("authorization"))
        if bearer is not None and oauth is not None and (user := oauth.user_of(bearer)) is not None:
            creds = (user, state.passwords.get(user, ""))
        elif bearer is not None and code_flow is not None and code_flow.access_ok(bearer):
            creds = (code_flow.user, state.passwords.get(code_flow.user, ""))
        if creds is None or state.passwords.get(creds[0]) != creds[1]:
            return failure(401, "User Not Authenticated", "Required to provide Auth information",
                           {"WWW-Authenticate": 'BASIC realm="Service-now"'})
        request.state.user = creds[0]
        extra: dict[str, str] = {}
        if limiter is not None:
            hit = limiter.hit(creds[0])
            extra = {"X-RateLimit-Limit": str(hit.limit), "X-RateLimit-Reset": str(int(state.clock()) + hit.reset_s),
                     "X-RateLimit-Rule": RULE_SYS_ID}
            if not hit.allowed:
                return failure(429, "Too Many Requests",
                               f"User {creds[0]} has exceeded the rate limit of {hit.limit} requests per hour",
                               {**extra, "Retry-After": str(hit.reset_s)})
        try:
            response: Response = await handler(request)
        except Refused as exc:
            response = failure(exc.status, exc.message, exc.detail)
        response.headers.update(extra)
        return response

    def route(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return await guard(request, handler)
        return endpoint

    app = Starlette(routes=[
        Route("/api/now/table/{table}", route(listing), methods=["GET"]),
        Route("/api/now/table/{table}", route(create), methods=["POST"]),
        Route("/api/now/table/{table}/{sys_id}", route(show), methods=["GET"]),
        Route("/api/now/table/{table}/{sys_id}", route(update), methods=["PUT", "PATCH"]),
        Route("/api/now/table/{table}/{sys_id}", route(remove), methods=["DELETE"]),
        *(oauth_routes(oauth, code_flow) if oauth else []),
    ])
    app.state.sim = state
    return app
