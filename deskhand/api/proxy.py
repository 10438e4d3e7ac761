"""`/v1/accounts/{account}/proxy/{path}`: any call of the helpdesk's own API, for what the unified
schema does not cover, with the account's credentials, shared rate budgets and retries (the
connector's ProviderHTTP). Scoped like every route: GET needs tickets:read, other methods
tickets:write, and only the key's tenant's accounts exist.

`path` is relative to the provider's API root (Zendesk `…/api/v2`, Jira `…/rest/api/3`): a path that
could leave it (`..` or `.` segments, an absolute URL, `//host`, a backslash, a scheme) is refused
with 400 before anything is sent, and the URL built is checked again to be under the root.
The helpdesk's answer is passed on (status, JSON or text body, content type); its throttling becomes
our 429 problem with Retry-After, and a rejection of the account's credentials a 502 (so a client
does not take it for its own key being refused).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Path, Request, Security
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials
from starlette.concurrency import run_in_threadpool

from deskhand.api.auth import authorize, bearer, runtime
from deskhand.api.keys import Principal
from deskhand.api.problems import PROBLEMS, ApiProblem, not_found
from deskhand.api.tickets import Live
from deskhand.errors import AuthError, ProviderError, RateLimited
from deskhand.runtime import Runtime

router = APIRouter(prefix="/v1/accounts/{account}/proxy", tags=["proxy"], responses={
    **PROBLEMS, "default": {"description": "the helpdesk's own answer, passed on"}})
Key = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
Rt = Annotated[Runtime, Depends(runtime)]
Account = Annotated[str, Path(max_length=64)]
ProxyPath = Annotated[str, Path(max_length=2000, description="path under the helpdesk's API root")]
MAX_BODY = 1_000_000
_BAD = re.compile(r"[\\\x00-\x1f\x7f@]")


def checked_path(path: str) -> str:
    """`path` as a safe relative path under the API root, or ApiProblem(400)."""
    segments = path.split("/")
    if (not path or path.startswith("/") or _BAD.search(path) or ":" in segments[0]
            or any(s in (".", "..") for s in segments) or "//" in path):
        raise ApiProblem(400, "path_outside_api", f"{path!r} is not a path under the helpdesk's API root: give a "
                         "relative path such as tickets/42.json, without '..', '//', '@' or a scheme")
    return "/" + path


@functools.lru_cache(maxsize=1024)
def _root(base: str) -> tuple[tuple[str, str, int | None], str]:
    root = httpx.URL(base)
    return (root.scheme, root.host, root.port), root.path.rstrip("/") + "/"


def _under_root(base: str, full: str) -> bool:
    (origin, prefix), url = _root(base), httpx.URL(full)
    return (url.scheme, url.host, url.port) == origin and url.path.startswith(prefix)


def forward(rt: Runtime, lc: Any, key: HTTPAuthorizationCredentials | None, account_name: str, path: str,
            request: Request, body: bytes) -> Response:
    """The whole proxied call on one worker thread: the key's scope (as `require` checks it, here rather
    than in a dependency of its own, which would cost a second threadpool hop), the account (read at
    most every few seconds, deskhand.api.live), the helpdesk's answer."""
    who: Principal = authorize(rt, key, "tickets:read" if request.method in ("GET", "HEAD") else "tickets:write")
    account = lc.account(account_name)
    if account is None or account.tenant_id != who.tenant_id:
        raise not_found(f"account {account_name!r}")
    conn = lc.get(account)
    relative = checked_path(path)
    if not _under_root(conn.http.base_url, conn.http.url(relative)):
        raise ApiProblem(400, "path_outside_api", f"{path!r} leaves the helpdesk's API root")
    payload: Any = None
    if body:
        if len(body) > MAX_BODY:
            raise ApiProblem(413, "body_too_large", f"a proxied body may have at most {MAX_BODY} bytes")
        if "json" not in request.headers.get("content-type", ""):
            raise ApiProblem(415, "unsupported_media_type", "the proxy forwards JSON bodies (Content-Type: "
                             "application/json)")
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise ApiProblem(400, "bad_request", f"the body is not JSON: {exc}") from exc
    params = list(request.query_params.multi_items())
    try:
        answer = conn.http.request(request.method, relative, params=params or None, json=payload)
    except (RateLimited, AuthError):
        raise  # 429 with Retry-After / 502 account_needs_reauth (deskhand.api.problems)
    except ProviderError as exc:
        if exc.status is not None and 400 <= exc.status < 500:
            return _passed_on(exc.status, exc.body)
        raise
    return Response(answer.content, status_code=answer.status_code,
                    media_type=answer.headers.get("content-type", "application/octet-stream"),
                    headers={"X-Deskhand-Provider": account.provider})


def _passed_on(status: int, body: Any) -> Response:
    if isinstance(body, dict | list):
        return Response(json.dumps(body), status_code=status, media_type="application/json")
    return Response(str(body or ""), status_code=status, media_type="text/plain")


@router.get("/{path:path}", summary="Call the helpdesk's own API (GET)", operation_id="proxy_get")
async def proxy_read(key: Key, rt: Rt, lc: Live, account: Account, path: ProxyPath, request: Request) -> Response:
    return await run_in_threadpool(forward, rt, lc, key, account, path, request, b"")


async def proxy_write(key: Key, rt: Rt, lc: Live, account: Account, path: ProxyPath,
                      request: Request) -> Response:
    body = await request.body()
    return await run_in_threadpool(forward, rt, lc, key, account, path, request, body)


for _method in ("POST", "PUT", "PATCH", "DELETE"):  # one operation each: OpenAPI ids stay unique
    router.add_api_route("/{path:path}", proxy_write, methods=[_method], operation_id=f"proxy_{_method.lower()}",
                         summary=f"Call the helpdesk's own API ({_method})")
