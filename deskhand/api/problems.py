"""Errors as RFC 9457 problem documents (`application/problem+json`), one shape for every route.

Raise `ApiProblem` in a route; deskhand's own errors (not found, a provider's throttling, a provider
error) and FastAPI's (validation, unknown path, wrong method) are mapped here, once. A provider's
throttling becomes 429 with `Retry-After` and the `RateLimit-*` fields, never a wait.
"""

from __future__ import annotations

import logging
import math
import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from deskhand.errors import (
    AuthError,
    ConfigError,
    NotFoundError,
    ProviderError,
    RateLimited,
    ResourceNotFound,
    TransitionError,
)

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "urn:deskhand:problem:"


class Problem(BaseModel):
    """An RFC 9457 problem document; `code` names the problem for programs (also in `type`)."""

    model_config = ConfigDict(extra="allow")
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    code: str | None = None


def _documented(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description,
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: _documented("The body is not JSON"),
    401: _documented("No API key, or an unknown or revoked one"),
    403: _documented("The API key lacks the scope"),
    404: _documented("No such object for this API key's tenant"),
    409: _documented("The first request with this Idempotency-Key is still being performed"),
    422: _documented("The request is not valid (or not for this helpdesk)"),
    429: _documented("The helpdesk's rate limit is reached: retry after Retry-After"),
    502: _documented("The helpdesk did not answer usefully"),
}


class ApiProblem(Exception):
    def __init__(self, status: int, code: str, detail: str, *, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers, self.extra = status, code, detail, headers, extra


def not_found(what: str) -> ApiProblem:
    return ApiProblem(404, "not_found", f"no {what} (or not visible to this API key)")


def problem_response(status: int, code: str | None, detail: str | None, *, instance: str | None = None,
                     headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = Problem(
        type=TYPE_BASE + code if code else "about:blank",
        title=_title(status),
        status=status,
        detail=detail,
        instance=instance,
        code=code,
        **extra,
    ).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def throttled_headers(exc: RateLimited) -> dict[str, str]:
    """Retry-After plus the IETF RateLimit fields, from what the provider (or our budget) said."""
    wait = max(1, math.ceil(exc.retry_after if exc.retry_after is not None else 1))
    headers = {"Retry-After": str(wait), "RateLimit-Remaining": "0", "RateLimit-Reset": str(wait)}
    headers["RateLimit"] = f"remaining=0, reset={wait}"
    verdict = getattr(exc, "verdict", None)  # our own shared budget (deskhand.limits) said wait
    if verdict is not None:
        headers["RateLimit-Policy"] = f'"{verdict.key}"'
    return headers


def allowed_methods(app: FastAPI, path: str) -> str:
    """Every method the description documents for `path` ("" when it documents none)."""
    table: list[tuple[re.Pattern[str], str]] | None = getattr(app.state, "allowed_methods", None)
    if table is None:
        table = [(re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(p)) + "$"),
                  ", ".join(sorted(m.upper() for m in ops))) for p, ops in app.openapi().get("paths", {}).items()]
        app.state.allowed_methods = table
    return next((methods for pattern, methods in table if pattern.match(path)), "")


def install(app: FastAPI) -> None:
    """Answer every error of `app` with a problem document."""

    @app.exception_handler(ApiProblem)
    async def _api(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(exc.status, exc.code, exc.detail, instance=request.url.path,
                                headers=exc.headers, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        codes = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names only the first route's methods for a path
            headers["Allow"] = allowed_methods(app, request.url.path) or headers.get("Allow", "")
        return problem_response(exc.status_code, code, detail, instance=request.url.path, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()]
        where = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
        return problem_response(422, "invalid_request", f"the request is not valid: {where}",
                                instance=request.url.path, errors=errors)

    @app.exception_handler(NotFoundError)
    async def _missing(request: Request, exc: NotFoundError) -> JSONResponse:
        return problem_response(404, "not_found", str(exc), instance=request.url.path)

    @app.exception_handler(ConfigError)
    async def _config(request: Request, exc: ConfigError) -> JSONResponse:
        return problem_response(400, "invalid_request", str(exc), instance=request.url.path)

    @app.exception_handler(ProviderError)
    async def _provider(request: Request, exc: ProviderError) -> JSONResponse:
        path = request.url.path
        if isinstance(exc, RateLimited):
            return problem_response(429, "provider_throttled", "the helpdesk's rate limit is reached; retry "
                                    "after the time in Retry-After", instance=path, headers=throttled_headers(exc))
        if isinstance(exc, ResourceNotFound):
            return problem_response(404, "not_found", "the helpdesk has no such object", instance=path)
        if isinstance(exc, TransitionError):
            return problem_response(422, "status_unreachable", str(exc), instance=path)
        if isinstance(exc, AuthError):
            return problem_response(502, "account_needs_reauth", "the helpdesk rejected the account's credentials:"
                                    " connect the account again (deskhand connect …)", instance=path)
        if exc.status is not None and 400 <= exc.status < 500:
            return problem_response(422, "provider_rejected", f"the helpdesk refused the request (HTTP "
                                    f"{exc.status}): {str(exc.body)[:300]}", instance=path, provider_status=exc.status)
        log.warning("provider error on %s: %s", path, exc)
        return problem_response(502, "provider_unavailable", "the helpdesk did not answer usefully; retry later",
                                instance=path, headers={"Retry-After": "5"})
