"""Zendesk's OAuth endpoints on the generic authorisation server (FACTS.md §1.1): the consent URL
/oauth/authorizations/new, the token URL /oauth/tokens (code exchange and refresh with rotation; a
client may pass `expires_in`), and /oauth/revoke. Bad grants answer 400 `invalid_grant`. The API checks
each call against the grant's scopes (`SCOPES`: `read` opens every GET, `write` every other method, or a
resource's own `tickets:read`, `users:write` …); a call outside them answers Zendesk's 403 Forbidden."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.routing import Route

from deskhand.sim.oauth_server import AuthServer, ScopeRules

AUTHORIZE, TOKENS, REVOKE = "/oauth/authorizations/new", "/oauth/tokens", "/oauth/revoke"
DEFAULT_ACCESS_TTL_S = 1800.0  # 30 minutes, the default of clients created after 2026-04-30
FORBIDDEN = {"error": "Forbidden", "description": "You do not have access to this page. Please contact the account "
                                                  "owner of this help desk for further help."}
_RESOURCES = {"tickets": r"/api/v2/(tickets|incremental/tickets|ticket_fields|search)",
              "users": r"/api/v2/(users|incremental/users)", "organizations": r"/api/v2/organizations",
              "webhooks": r"/api/v2/webhooks", "hc": r"/api/v2/help_center"}
SCOPES = ScopeRules([
    *[("GET", path, ("read", f"{name}:read")) for name, path in _RESOURCES.items()],
    *[("WRITE", path, ("write", f"{name}:write")) for name, path in _RESOURCES.items()],
    ("GET", r"/api/v2/", "read"),
    ("WRITE", r"/api/v2/", "write"),
])


def auth_server(clients: dict[str, str], *, clock: Callable[[], float] = time.time, **options: Any) -> AuthServer:
    options.setdefault("access_ttl_s", DEFAULT_ACCESS_TTL_S)
    return AuthServer(clients, clock=clock, **options)


def routes(server: AuthServer) -> list[Route]:
    return server.routes(AUTHORIZE, TOKENS, REVOKE)
