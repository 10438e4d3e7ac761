"""Linear's OAuth 2.0 on the generic authorisation server (FACTS.md §3.1): authorise at
/oauth/authorize (linear.app in production), tokens at /oauth/token (api.linear.app), revocation at
/oauth/revoke. Access tokens live 24 h; refresh tokens rotate (every OAuth app since 2026-04-01): a
refresh answers a new pair and the refresh token sent dies. Refused grants answer 400 `invalid_grant`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.routing import Route

from deskhand.sim.oauth_server import AuthServer

AUTHORIZE, TOKEN, REVOKE = "/oauth/authorize", "/oauth/token", "/oauth/revoke"
DEFAULT_ACCESS_TTL_S = 86_400.0


def auth_server(clients: dict[str, str], *, clock: Callable[[], float] = time.time, **options: Any) -> AuthServer:
    options.setdefault("access_ttl_s", DEFAULT_ACCESS_TTL_S)
    options.setdefault("rotate", True)
    return AuthServer(clients, clock=clock, **options)


def routes(server: AuthServer) -> list[Route]:
    return server.routes(AUTHORIZE, TOKEN, REVOKE)
