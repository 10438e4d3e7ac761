"""A generic OAuth 2.0 authorisation server for the simulators (RFC 6749 code grant + RFC 7636 PKCE).

authorize (auto-approves: 302 to the redirect URI with `code` and `state`), token exchange,
refresh with rotation (the refresh token sent dies with its access token; sending a dead one again
revokes the whole grant, as strict servers do), configurable lifetimes on an injectable clock,
revocation (RFC 7009, and `revoke_grant()` for tests). A simulator wires `routes(...)` into its app
and asks `access_ok(token)` for each Bearer request, or `check(token, method, path)` to enforce scopes
on its API too (`ScopeRules`: which scope each call needs, as the provider documents it; the simulator
answers a call outside the grant's scopes with its provider's own error). `refresh_log` lists every
refresh token received.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from deskhand.sim.base import parse_basic_auth


@dataclass(frozen=True)
class ScopeRule:
    """A call (`METHOD` and a path regex matched from the start) and the scopes any one of which allows it."""

    method: str  # "GET", or "*" for every method; "WRITE" for every method but GET/HEAD
    path: str
    any_of: tuple[str, ...]

    def matches(self, method: str, path: str) -> bool:
        if self.method == "WRITE":
            if method in ("GET", "HEAD"):
                return False
        elif self.method not in ("*", method):
            return False
        return re.match(self.path, path) is not None


class ScopeRules:
    """Which scopes each API call needs: the first matching rule decides; a call no rule matches needs none."""

    def __init__(self, rules: list[tuple[str, str, tuple[str, ...] | str]]) -> None:
        self.rules = [ScopeRule(m, p, (s,) if isinstance(s, str) else tuple(s)) for m, p, s in rules]

    def needed(self, method: str, path: str) -> tuple[str, ...]:
        for rule in self.rules:
            if rule.matches(method, path):
                return rule.any_of
        return ()


@dataclass(frozen=True)
class Verdict:
    """What the authorisation server says of one API call: ok, or why not (`invalid` token, `scope`)."""

    ok: bool
    problem: str | None = None  # "invalid" (unknown, expired, revoked) | "scope" (the grant lacks it)
    needed: tuple[str, ...] = ()
    grant: Grant | None = None


@dataclass
class Grant:
    id: int
    client_id: str
    scope: str
    revoked: bool = False
    access: dict[str, float] = field(default_factory=dict)  # live access token -> expires_at
    refresh: str | None = None  # the one live refresh token
    refresh_expires_at: float | None = None
    ends_at: float | None = None  # no refresh after this, however active (Atlassian: 365 days)
    dead_refresh: set[str] = field(default_factory=set)

    def scopes(self) -> set[str]:
        return set(self.scope.split())


class AuthServer:
    def __init__(self, clients: dict[str, str], *, clock: Callable[[], float] = time.time,
                 access_ttl_s: float = 1800.0, refresh_ttl_s: float | None = None, rotate: bool = True,
                 error_status: int = 400, allowed_scopes: dict[str, set[str]] | None = None,
                 access_dies_on_refresh: bool = True, authorize_requires: dict[str, str] | None = None,
                 grant_ttl_s: float | None = None) -> None:
        self.clients, self.clock, self.rotate, self.error_status = dict(clients), clock, rotate, error_status
        # the scopes each client (app) is registered for; a grant gets the requested ones it has (None: any)
        self.allowed_scopes = allowed_scopes
        self.access_dies_on_refresh = access_dies_on_refresh  # Zendesk: yes; Atlassian's JWTs live to expiry
        self.authorize_requires = dict(authorize_requires or {})  # e.g. Atlassian's audience=api.atlassian.com
        self.grant_ttl_s = grant_ttl_s  # a grant's absolute lifetime (its refresh tokens' last day)
        self.access_ttl_s, self.refresh_ttl_s = access_ttl_s, refresh_ttl_s
        self.grants: dict[int, Grant] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.refresh_log: list[str] = []  # every refresh token presented, in order
        self.exchanges = 0
        self._lock = threading.Lock()

    # -- the API side -------------------------------------------------------------------------
    def access_ok(self, token: str | None) -> bool:
        """Whether a Bearer token is a live access token (not expired, not revoked, not rotated away)."""
        return self.live_grant(token) is not None

    def live_grant(self, token: str | None) -> Grant | None:
        """The grant of a live access token, else None."""
        if not token:
            return None
        with self._lock:
            for grant in self.grants.values():
                expires = grant.access.get(token)
                if expires is not None:
                    return grant if not grant.revoked and self.clock() < expires else None
        return None

    def check(self, token: str | None, method: str, path: str, rules: ScopeRules | None = None) -> Verdict:
        """May this Bearer token make this call? `rules` (the provider's scope table) names what it needs."""
        grant = self.live_grant(token)
        if grant is None:
            return Verdict(False, "invalid")
        needed = rules.needed(method.upper(), path) if rules is not None else ()
        if needed and not grant.scopes() & set(needed):
            return Verdict(False, "scope", needed, grant)
        return Verdict(True, None, needed, grant)

    def set_scope(self, scope: str, grant_id: int | None = None) -> None:
        """Change what a grant (the latest by default) allows, as an admin editing the app's permissions would."""
        with self._lock:
            self.grants[grant_id if grant_id is not None else max(self.grants)].scope = scope

    def revoke_grant(self, grant_id: int | None = None) -> None:
        """Revoke one grant (the latest by default): its access and refresh tokens all die."""
        with self._lock:
            gid = grant_id if grant_id is not None else max(self.grants)
            self.grants[gid].revoked = True

    # -- the authorisation server side --------------------------------------------------------
    def routes(self, authorize: str, token: str, revoke: str | None) -> list[Route]:
        """The authorise, token and (unless None: a provider without one) RFC 7009 revoke endpoints."""
        return [Route(authorize, self._authorize, methods=["GET"]), Route(token, self._token, methods=["POST"]),
                *([Route(revoke, self._revoke, methods=["POST"])] if revoke else [])]

    def _error(self, error: str, description: str, status: int | None = None) -> JSONResponse:
        return JSONResponse({"error": error, "error_description": description}, status_code=status or self.error_status)

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") not in self.clients:
            return self._error("invalid_client", "unknown client_id")
        redirect = q.get("redirect_uri")
        if not redirect:
            return self._error("invalid_request", "redirect_uri is required")
        for name, value in self.authorize_requires.items():
            if q.get(name) != value:
                return self._error("invalid_request", f"{name} must be {value!r}")
        if q.get("response_type") != "code":
            return RedirectResponse(redirect + "?" + urlencode({"error": "unsupported_response_type",
                                                                 "state": q.get("state", "")}), 302)
        code = secrets.token_urlsafe(24)
        with self._lock:
            self.codes[code] = {"client_id": q["client_id"], "redirect_uri": redirect, "scope": q.get("scope", ""),
                                "challenge": q.get("code_challenge"), "method": q.get("code_challenge_method"),
                                "expires_at": self.clock() + 600}
        params = {"code": code, **({"state": q["state"]} if "state" in q else {})}
        return RedirectResponse(redirect + ("&" if "?" in redirect else "?") + urlencode(params), 302)

    async def _client(self, request: Request, form: dict[str, str]) -> str | None:
        basic = parse_basic_auth(request.headers.get("authorization"))
        cid, secret = basic if basic else (form.get("client_id"), form.get("client_secret"))
        return cid if cid in self.clients and self.clients[cid] == secret else None

    async def _form(self, request: Request) -> dict[str, str]:
        if request.headers.get("content-type", "").startswith("application/json"):
            return {k: str(v) for k, v in (await request.json()).items()}
        return {k: str(v) for k, v in (await request.form()).items()}

    async def _token(self, request: Request) -> Response:
        form = await self._form(request)
        client = await self._client(request, form)
        if client is None:
            return self._error("invalid_client", "client authentication failed", 401)
        kind = form.get("grant_type")
        if kind == "authorization_code":
            return self._exchange(client, form)
        if kind == "refresh_token":
            return self._refresh(client, form)
        return self._error("unsupported_grant_type", f"grant_type {kind!r}")

    def _exchange(self, client: str, form: dict[str, str]) -> Response:
        with self._lock:
            code = self.codes.pop(form.get("code", ""), None)  # a code works once
            if code is None or code["client_id"] != client or code["expires_at"] < self.clock():
                return self._error("invalid_grant", "the authorization code is invalid or expired")
            if form.get("redirect_uri") and form["redirect_uri"] != code["redirect_uri"]:
                return self._error("invalid_grant", "redirect_uri does not match the authorization request")
            if code["challenge"]:
                digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != code["challenge"]:
                    return self._error("invalid_grant", "code_verifier does not match the code_challenge")
            grant = Grant(id=len(self.grants) + 1, client_id=client, scope=self._granted(client, code["scope"]),
                          ends_at=None if self.grant_ttl_s is None else self.clock() + self.grant_ttl_s)
            self.grants[grant.id] = grant
            self.exchanges += 1
            return JSONResponse(self._issue(grant, form))

    def _refresh(self, client: str, form: dict[str, str]) -> Response:
        token = form.get("refresh_token", "")
        with self._lock:
            self.refresh_log.append(token)
            for grant in self.grants.values():
                if token in grant.dead_refresh:  # replay of a rotated token: the grant is compromised
                    grant.revoked = True
                    return self._error("invalid_grant", "refresh token reused; the grant is revoked")
                if token == grant.refresh and grant.client_id == client:
                    if grant.revoked:
                        return self._error("invalid_grant", "the grant was revoked")
                    if grant.refresh_expires_at is not None and self.clock() >= grant.refresh_expires_at:
                        return self._error("invalid_grant", "the refresh token expired")
                    if grant.ends_at is not None and self.clock() >= grant.ends_at:
                        return self._error("invalid_grant", "the refresh token reached its absolute expiry")
                    if self.rotate:
                        grant.dead_refresh.add(token)
                        if self.access_dies_on_refresh:
                            grant.access.clear()  # the previous access token dies with it (Zendesk)
                    return JSONResponse(self._issue(grant, form, keep_refresh=not self.rotate))
        return self._error("invalid_grant", "the refresh token is invalid")

    def _granted(self, client: str, requested: str) -> str:
        allowed = None if self.allowed_scopes is None else self.allowed_scopes.get(client, set())
        return " ".join(s for s in requested.split() if allowed is None or s in allowed)

    def _issue(self, grant: Grant, form: dict[str, str], keep_refresh: bool = False) -> dict[str, Any]:
        ttl = float(form.get("expires_in") or self.access_ttl_s)
        access = secrets.token_urlsafe(32)
        grant.access[access] = self.clock() + ttl
        refresh_ttl = form.get("refresh_token_expires_in") or self.refresh_ttl_s
        if not keep_refresh:
            grant.refresh = secrets.token_urlsafe(32)
            grant.refresh_expires_at = None if refresh_ttl is None else self.clock() + float(refresh_ttl)
        answer = {"access_token": access, "token_type": "bearer", "scope": grant.scope, "expires_in": int(ttl),
                  "refresh_token": grant.refresh}
        if grant.refresh_expires_at is not None:
            answer["refresh_token_expires_in"] = int(grant.refresh_expires_at - self.clock())
        return answer

    async def _revoke(self, request: Request) -> Response:
        form = await self._form(request)
        if await self._client(request, form) is None:
            return self._error("invalid_client", "client authentication failed", 401)
        token = form.get("token", "")
        with self._lock:
            for grant in self.grants.values():
                if token in grant.access or token == grant.refresh:
                    grant.revoked = True
        return Response(status_code=200)
