"""The one scope check of the API: `require(scope)` is a FastAPI dependency that reads the bearer key,
answers 401 (no key, unknown, revoked) or 403 (key lacks the scope) as problem documents, and returns
the caller's `Principal`. Everything a principal may see is its tenant's: `account_of` answers 404 for
another tenant's account, exactly as for one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select

from deskhand.api.keys import Principal, authenticate
from deskhand.api.problems import ApiProblem, not_found
from deskhand.runtime import Runtime
from deskhand.store import AccountRecord
from deskhand.store.schema import accounts

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An API key of one tenant: `deskhand keys create --tenant T --scope tickets:read …`",
)
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="deskhand"'}
ANY = "any"
_dependencies: dict[str, Callable[..., Principal]] = {}


async def runtime(request: Request) -> Runtime:  # async: no I/O, so no threadpool hop
    rt: Runtime = request.app.state.rt
    return rt


def require(scope: str) -> Callable[..., Principal]:
    """The dependency that admits keys holding `scope` (or `admin`; any valid key for scope "any") and
    returns their Principal."""
    if scope in _dependencies:
        return _dependencies[scope]

    def dependency(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Security(bearer)
    ) -> Principal:
        return authorize(request.app.state.rt, credentials, scope)

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    _dependencies[scope] = dependency
    return dependency


def authorize(rt: Runtime, credentials: HTTPAuthorizationCredentials | None, scope: str) -> Principal:
    """The principal of the presented key if it holds `scope`; else the 401/403 problem. Blocking (it
    reads the key): `require` runs it in the threadpool; a route that goes there anyway (the proxy)
    may call it itself, on the same thread hop as its own work."""
    if credentials is None:
        raise ApiProblem(401, "unauthorized", "an API key is required: send `Authorization: Bearer <key>` "
                         "(create one with `deskhand keys create`)", headers=CHALLENGE)
    principal = authenticate(rt.store.engine, credentials.credentials)
    if principal is None:
        raise ApiProblem(401, "unauthorized", "the API key is unknown or revoked", headers=CHALLENGE)
    if scope != ANY and not principal.allows(scope):
        raise ApiProblem(403, "forbidden", f"this API key lacks the scope {scope!r}", required_scope=scope)
    return principal


def tenant_account_names(rt: Runtime, tenant_id: str) -> list[str]:
    q = select(accounts.c.name).where(accounts.c.tenant_id == tenant_id).order_by(accounts.c.name)
    with rt.store.engine.connect() as c:
        return [r.name for r in c.execute(q).all()]


def account_of(rt: Runtime, principal: Principal, name: str) -> AccountRecord:
    """The account `name` if it belongs to the principal's tenant; else 404 (no hint it exists)."""
    account = rt.store.find_account(name)
    if account is None or account.tenant_id != principal.tenant_id:
        raise not_found(f"account {name!r}")
    return account


def scoped(principal: Principal, row: dict[str, Any], what: str) -> dict[str, Any]:
    """`row` if it carries the principal's tenant_id; else 404."""
    if row.get("tenant_id") != principal.tenant_id:
        raise not_found(what)
    return row
