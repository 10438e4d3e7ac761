"""OAuth 2.0 of the ServiceNow simulator: ``POST /oauth_token.do`` and Bearer tokens (FACTS.md §5.1);
with a :class:`CodeFlow`, the authorisation code grant at ``/oauth_auth.do`` too.

An OAuth application registry entry (``client_id``/``client_secret``) issues tokens for the grants
``password`` (a user's user name and password), ``refresh_token`` and ``client_credentials`` (as the
entry's own user); the client's id and secret come in the form or as Basic auth.
Access tokens live 1800 s, refresh tokens 100 days (the defaults); a refresh
issues a new access token and keeps the refresh token, as the instance does by default. Answers are
``{"access_token", "refresh_token", "scope": "useraccount", "token_type": "Bearer", "expires_in"}``;
refusals are ``401 {"error": "access_denied", "error_description": …}`` (``400`` for an unknown grant).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from deskhand.sim.base import parse_basic_auth
from deskhand.sim.oauth_server import AuthServer
from deskhand.sim.servicenow_state import ServiceNowState

ACCESS_S = 1800
REFRESH_S = 8_640_000


@dataclass
class OAuthApp:
    client_id: str
    client_secret: str
    user: str = "admin"  # who client_credentials tokens act as


@dataclass
class OAuthTokens:
    state: ServiceNowState
    apps: dict[str, OAuthApp] = field(default_factory=dict)
    access: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (user_name, expires at)
    refresh: dict[str, tuple[str, str, float]] = field(default_factory=dict)  # token -> (client, user, expires)

    def add_app(self, client_id: str, client_secret: str, user: str = "admin") -> OAuthApp:
        app = self.apps[client_id] = OAuthApp(client_id, client_secret, user)
        return app

    def user_of(self, token: str) -> str | None:
        """The user a Bearer token acts as; None when unknown or expired."""
        held = self.access.get(token)
        return held[0] if held and held[1] > self.state.clock() else None

    def _issue(self, client: str, user: str, refresh: str | None = None) -> JSONResponse:
        now = self.state.clock()
        access = secrets.token_urlsafe(48)
        self.access[access] = (user, now + ACCESS_S)
        if refresh is None:
            refresh = secrets.token_urlsafe(48)
            self.refresh[refresh] = (client, user, now + REFRESH_S)
        return JSONResponse({"access_token": access, "refresh_token": refresh, "scope": "useraccount",
                             "token_type": "Bearer", "expires_in": ACCESS_S - 1})

    async def endpoint(self, request: Request) -> Response:
        form = await request.form()
        value = {k: str(v) for k, v in form.items()}
        basic = parse_basic_auth(request.headers.get("authorization"))  # client credentials may come as Basic
        if basic is not None and "client_id" not in value:
            value["client_id"], value["client_secret"] = basic
        app = self.apps.get(value.get("client_id", ""))
        if app is None or not secrets.compare_digest(app.client_secret, value.get("client_secret", "")):
            return _denied("invalid client_id or client_secret")
        grant = value.get("grant_type")
        if grant == "password":
            user = value.get("username", "")
            if self.state.passwords.get(user) != value.get("password") or user == "":
                return _denied("invalid username or password")
            return self._issue(app.client_id, user)
        if grant == "refresh_token":
            held = self.refresh.get(value.get("refresh_token", ""))
            if held is None or held[0] != app.client_id or held[2] <= self.state.clock():
                return _denied("invalid or expired refresh_token")
            return self._issue(app.client_id, held[1], value["refresh_token"])
        if grant == "client_credentials":
            return self._issue(app.client_id, app.user)
        return JSONResponse({"error": "unsupported_grant_type", "error_description": f"grant_type {grant!r}"}, 400)


def _denied(why: str, *, error: str = "access_denied") -> JSONResponse:
    return JSONResponse({"error": error, "error_description": why}, 401)


class CodeFlow(AuthServer):
    """The authorisation code grant (``GET /oauth_auth.do`` → the redirect URL with ``code``; the code and
    later refreshes at ``/oauth_token.do``; ``/oauth_revoke_token.do``), on the generic server. The
    consent page signs in as ``user``: the tokens act as that user. Refresh tokens are kept on
    refresh (the instance's default). Every refusal is ServiceNow's own: ``401 {"error": "server_error",
    "error_description": "access_denied"}``."""

    def __init__(self, clients: dict[str, str], *, user: str, clock: Callable[[], float] = time.time,
                 **options: Any) -> None:
        options.setdefault("access_ttl_s", float(ACCESS_S))
        options.setdefault("refresh_ttl_s", float(REFRESH_S))
        options.setdefault("rotate", False)
        super().__init__(clients, clock=clock, **options)
        self.user = user

    def _error(self, *args: Any, **kwargs: Any) -> JSONResponse:
        return _denied("access_denied", error="server_error")

    def _issue(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        answer: dict[str, Any] = super()._issue(*args, **kwargs)
        answer.pop("refresh_token_expires_in", None)
        answer.update(token_type="Bearer", scope=answer.get("scope") or "useraccount")
        return answer


def oauth_routes(tokens: OAuthTokens, code_flow: CodeFlow | None) -> list[Route]:
    """``/oauth_token.do`` for every grant (password and client credentials: `tokens`; authorisation
    code and its refreshes: `code_flow`), and with a code flow ``/oauth_auth.do`` and
    ``/oauth_revoke_token.do``."""
    if code_flow is None:
        return [Route("/oauth_token.do", tokens.endpoint, methods=["POST"])]
    authorize, token, revoke = code_flow.routes("/oauth_auth.do", "/oauth_token.do", "/oauth_revoke_token.do")

    async def endpoint(request: Request) -> Response:
        form = await request.form()  # read once: Starlette keeps it for the handler
        grant, refresh = str(form.get("grant_type", "")), str(form.get("refresh_token", ""))
        if grant == "authorization_code" or (grant == "refresh_token" and refresh not in tokens.refresh):
            response: Response = await token.endpoint(request)
            return response
        return await tokens.endpoint(request)

    return [authorize, Route("/oauth_token.do", endpoint, methods=["POST"]), revoke]
