"""A local Linear GraphQL API (FACTS.md §3): ``POST /graphql`` over Linear's published schema.

The schema is Linear's own SDL (``linear_schema.graphql``, from the MIT-licensed linear/linear
repository, ``packages/sdk/src/schema.graphql``; see the header of that file), served with
graphql-core, so every query a client sends is validated, costed and resolved as the real API
would, introspection included. Resolvers: :mod:`deskhand.sim.linear_resolve`; state:
:mod:`deskhand.sim.linear_state`; limits: :mod:`deskhand.sim.linear_limits`; webhooks:
:mod:`deskhand.sim.linear_webhooks`.

Auth: ``Authorization: <personal API key>`` (no "Bearer"), or ``Bearer <OAuth token>``. Missing or
unknown credentials, an unparseable body and a query that fails validation are answered with HTTP
400 and ``errors[]`` (as Linear does); a throttled request with 400 and ``RATELIMITED``; a query over
10,000 complexity points with 400. Other errors come back with 200, ``data`` and ``errors[]``.

    app = create_app(LinearState(), api_key="lin_api_x", webhook_url="http://127.0.0.1:9/hook", webhook_secret="s")
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from graphql import GraphQLError, GraphQLSchema, build_schema, execute, parse, validate
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from deskhand.sim import linear_oauth
from deskhand.sim.linear_limits import MAX_QUERY_COMPLEXITY, LinearLimits, complexity
from deskhand.sim.linear_resolve import Context, resolve
from deskhand.sim.linear_state import LinearState
from deskhand.sim.linear_webhooks import Dispatcher, LinearDelivery
from deskhand.sim.oauth_server import AuthServer

SCHEMA_FILE = Path(__file__).with_name("linear_schema.graphql")


@functools.lru_cache(maxsize=1)
def schema() -> GraphQLSchema:
    """Linear's schema, built once per process (about a second: the SDL is 1.2 MB)."""
    return build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))


def _errors(status: int, message: str, code: str, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    body = {"errors": [{"message": message, "extensions": {"code": code, "userPresentableMessage": message,
                                                           **extra}}]}
    return JSONResponse(body, status_code=status, headers=headers)


def _user(state: LinearState, header: str | None, oauth: AuthServer | None = None) -> str | None:
    """Who calls: a personal API key's user, or for an OAuth access token (Bearer) the user who authorised
    the app (the simulator's viewer)."""
    if not header:
        return None
    key = header[7:].strip() if header.lower().startswith("bearer ") else header.strip()
    if oauth is not None and header.lower().startswith("bearer ") and oauth.access_ok(key):
        return str(state.viewer["id"])
    return state.api_keys.get(key)


async def graphql_endpoint(request: Request) -> Response:
    app = request.app.state
    state: LinearState = app.linear
    user_id = _user(state, request.headers.get("authorization"), app.oauth)
    if user_id is None:
        return _errors(400, "Authentication required, not authenticated", "AUTHENTICATION_ERROR",
                       type="authentication error", userError=True, statusCode=401)
    try:
        body = json.loads(await request.body())
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            raise ValueError("the body must be a JSON object with a `query` string")
        variables = body.get("variables") or {}
        if not isinstance(variables, dict):
            raise ValueError("`variables` must be a JSON object")
        doc = parse(body["query"])
    except (ValueError, GraphQLError) as exc:
        return _errors(400, f"Invalid request: {exc}", "BAD_USER_INPUT" if isinstance(exc, ValueError)
                       else "GRAPHQL_PARSE_FAILED")
    sch = schema()
    problems = validate(sch, doc)
    if problems:
        answer = {"errors": [{**e.formatted, "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}
                             for e in problems]}
        return JSONResponse(answer, status_code=400)
    cost = complexity(sch, doc, body.get("operationName"), variables)
    limits: LinearLimits = app.limits
    if cost > MAX_QUERY_COMPLEXITY:
        return _errors(400, f"Query too complex: complexity {cost} over the maximum of {MAX_QUERY_COMPLEXITY}",
                       "QUERY_TOO_COMPLEX", headers={"x-complexity": str(cost)})
    allowed, headers = limits.take(user_id, cost)
    if not allowed:
        return _errors(400, "Rate limit exceeded", "RATELIMITED", headers=headers, type="ratelimited",
                       userError=True, meta={})
    result = execute(sch, doc, field_resolver=resolve, context_value=Context(state, user_id),
                     variable_values=variables, operation_name=body.get("operationName"))
    if not isinstance(result, tuple) and hasattr(result, "__await__"):
        result = await result  # type: ignore[misc]
    answer_body: dict[str, Any] = {"data": result.data}  # type: ignore[union-attr]
    if result.errors:  # type: ignore[union-attr]
        answer_body["errors"] = [e.formatted for e in result.errors]  # type: ignore[union-attr]
    return JSONResponse(answer_body, headers=headers)


async def health(_request: Request) -> Response:
    return JSONResponse({"ok": True})


def create_app(state: LinearState, *, api_key: str, rate_limit: int | None = None, period_s: float = 3600.0,
               points: int = 3_000_000, limits: bool = True, webhook_url: str | None = None,
               webhook_secret: str | None = None, retry_scale: float = 1.0,
               oauth: AuthServer | None = None) -> Starlette:
    """The simulator as an ASGI app: ``app.state.linear``, ``.limits``, ``.delivery``, ``.dispatcher``;
    `oauth` (deskhand.sim.linear_oauth.auth_server) serves /oauth/* and its access tokens open the API."""
    state.api_keys.setdefault(api_key, state.viewer["id"])
    schema()
    app = Starlette(routes=[Route("/graphql", graphql_endpoint, methods=["POST"]), Route("/health", health),
                            *(linear_oauth.routes(oauth) if oauth is not None else [])])
    app.state.linear, app.state.oauth = state, oauth
    app.state.limits = LinearLimits(requests=rate_limit or 5_000, points=points, period_s=period_s, enabled=limits,
                                    clock=state.clock)
    app.state.delivery = LinearDelivery(lambda: int(state.clock() * 1000), retry_scale)
    app.state.dispatcher = Dispatcher(state, app.state.delivery)
    if webhook_url:
        state.create_webhook({"url": webhook_url, "secret": webhook_secret, "allPublicTeams": True,
                              "label": "deskhand", "resourceTypes": ["Issue", "Comment"]}, state.viewer["id"])
    return app
