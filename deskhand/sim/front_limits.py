"""Front's rate limits in the simulator, and the gate (auth + limits) in front of every call (FACTS §4.4).

Per company, requests per minute by plan (starter 50, professional 100, enterprise 200); and a burst
limit of 5 requests per second per resource (a path naming an id, e.g. one conversation or one
channel's ``incoming_messages``). Every answer carries ``x-ratelimit-limit``, ``x-ratelimit-remaining``
and ``x-ratelimit-reset`` (the UNIX time the window resets); over a limit the answer is 429 with
``retry-after`` (seconds). Authentication is ``Authorization: Bearer <API token>``; anything else is 401.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from deskhand.sim.base import FixedWindowLimiter, parse_bearer
from deskhand.sim.front_records import FrontError
from deskhand.sim.front_state import FrontState
from deskhand.sim.oauth_server import AuthServer

PLANS = {"starter": 50, "professional": 100, "enterprise": 200}
BURST_PER_S = 5
_RESOURCE = re.compile(r"^/[a-z_]+/[a-z]{3}_[0-9a-z]+")


def resource_of(path: str) -> str | None:
    """The resource a path names (``/conversations/cnv_1``), for the per-resource burst limit."""
    found = _RESOURCE.match(path)
    return found.group(0) if found else None


class Gate:
    """Bearer auth, then the company's per-minute budget and the per-resource burst (a dispatch function)."""

    def __init__(self, state: FrontState, per_minute: int, window_s: float = 60.0, burst: int = BURST_PER_S,
                 oauth: AuthServer | None = None):
        self.state, self.oauth = state, oauth  # OAuth access tokens act as the API token's teammate
        self.company = FixedWindowLimiter(per_minute, window_s, clock=state.clock)
        self.burst = FixedWindowLimiter(burst, 1.0, clock=state.clock)
        self.per_minute = per_minute

    async def __call__(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if self.oauth is not None and request.url.path.startswith("/oauth/"):
            return await call_next(request)  # the authorisation server (app.frontapp.com in production)
        token = parse_bearer(request.headers.get("authorization"))
        teammate = self.state.tokens.get(token or "")
        if teammate is None and self.oauth is not None and self.oauth.access_ok(token):
            teammate = self.state.bot["id"]
        if teammate is None:
            error = FrontError(401, "You must provide a valid API token in the Authorization header (Bearer).")
            return JSONResponse(error.body, status_code=401)
        request.state.teammate_id = teammate
        result = self.company.hit("company")
        resource = resource_of(request.url.path)
        burst = self.burst.hit(f"{request.method} {resource}") if resource and result.allowed else None
        reset_at = math.ceil(self.state.clock()) + result.reset_s
        headers = {"x-ratelimit-limit": str(self.per_minute), "x-ratelimit-remaining": str(max(0, result.remaining)),
                   "x-ratelimit-reset": str(reset_at)}
        blocked = None if result.allowed else result.reset_s
        if burst is not None and not burst.allowed:
            blocked = burst.reset_s
        if blocked is not None:
            error = FrontError(429, f"Rate limit exceeded. Please retry in {blocked * 1000} milliseconds.")
            return JSONResponse(error.body, status_code=429, headers={**headers, "retry-after": str(blocked)})
        self.state.settle()
        response = await call_next(request)
        response.headers.update(headers)
        return response
