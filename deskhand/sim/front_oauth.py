"""Front's OAuth 2.0 on the generic authorisation server (FACTS.md §4.1): authorise at /oauth/authorize
and exchange or refresh at /oauth/token (app.frontapp.com in production), the client authenticating
with Basic. Token answers say when the access token expires as `expires_at` (epoch seconds) instead of
`expires_in`; access tokens live an hour, the refresh token 6 months and is kept on refresh. Front has
no revocation endpoint: a grant dies when the app is uninstalled (``revoke_grant()`` in tests)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.routing import Route

from deskhand.sim.oauth_server import AuthServer

AUTHORIZE, TOKEN = "/oauth/authorize", "/oauth/token"
DEFAULT_ACCESS_TTL_S = 3600.0


class FrontAuthServer(AuthServer):
    def _issue(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        answer: dict[str, Any] = super()._issue(*args, **kwargs)
        answer["expires_at"] = int(self.clock() + answer.pop("expires_in"))
        answer["token_type"] = "Bearer"
        answer.pop("scope", None)
        answer.pop("refresh_token_expires_in", None)
        return answer


def auth_server(clients: dict[str, str], *, clock: Callable[[], float] = time.time, **options: Any) -> AuthServer:
    options.setdefault("access_ttl_s", DEFAULT_ACCESS_TTL_S)
    options.setdefault("rotate", False)
    options.setdefault("refresh_ttl_s", 180 * 86_400.0)
    return FrontAuthServer(clients, clock=clock, **options)


def routes(server: AuthServer) -> list[Route]:
    return server.routes(AUTHORIZE, TOKEN, None)
