"""Zendesk's OAuth endpoints on the generic authorisation server (FACTS.md §1.1): the consent URL
/oauth/authorizations/new, the token URL /oauth/tokens (code exchange and refresh with rotation; a
client may pass `expires_in`), and /oauth/revoke. Bad grants answer 400 `invalid_grant`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.routing import Route

from deskhand.sim.oauth_server import AuthServer

AUTHORIZE, TOKENS, REVOKE = "/oauth/authorizations/new", "/oauth/tokens", "/oauth/revoke"
DEFAULT_ACCESS_TTL_S = 1800.0  # 30 minutes, the default of clients created after 2026-04-30


def auth_server(clients: dict[str, str], *, clock: Callable[[], float] = time.time, **options: Any) -> AuthServer:
    options.setdefault("access_ttl_s", DEFAULT_ACCESS_TTL_S)
    return AuthServer(clients, clock=clock, **options)


def routes(server: AuthServer) -> list[Route]:
    return server.routes(AUTHORIZE, TOKENS, REVOKE)
