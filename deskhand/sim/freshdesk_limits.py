"""Freshdesk's per-minute API limits by plan, and the gate (auth + limits) in front of every /api/v2 call.

FACTS.md §6.4: account-wide credits per minute — Growth 200 (ticket create 80, ticket update 80,
tickets list 20, contacts list 20), Pro 400 (160/160/100/100), Enterprise 700 (280/280/200/200),
trial 50. Every answered call carries ``X-RateLimit-Total``, ``X-RateLimit-Remaining`` and
``X-RateLimit-Used-CurrentRequest``; each ``include=`` resource costs one more credit. Over a budget
the answer is 429 with ``Retry-After`` (seconds to the window's end). Authentication is Basic with
the API key as the user name and any password (``X``); a wrong or missing key is 401.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from deskhand.sim.base import parse_basic_auth

Clock = Callable[[], float]

# plan -> (total, {endpoint class: budget})
PLANS: dict[str, tuple[int, dict[str, int]]] = {
    "trial": (50, {}),
    "growth": (200, {"ticket_create": 80, "ticket_update": 80, "tickets_list": 20, "contacts_list": 20}),
    "pro": (400, {"ticket_create": 160, "ticket_update": 160, "tickets_list": 100, "contacts_list": 100}),
    "enterprise": (700, {"ticket_create": 280, "ticket_update": 280, "tickets_list": 200, "contacts_list": 200}),
}
RATE_LIMITED = {"message": "You have exceeded the limit of requests per minute"}  # body not captured [U]


def endpoint_class(method: str, path: str) -> str | None:
    """Which per-endpoint budget a call also spends, if any."""
    parts = path.rstrip("/").split("/")[3:]  # after /api/v2
    if parts == ["tickets"]:
        return {"GET": "tickets_list", "POST": "ticket_create"}.get(method)
    if len(parts) == 2 and parts[0] == "tickets" and parts[1].isdigit() and method == "PUT":
        return "ticket_update"
    if parts == ["contacts"] and method == "GET":
        return "contacts_list"
    return None


@dataclass
class Window:
    start: float
    used: int = 0


@dataclass
class Limits:
    """Credits per window for the account and per endpoint class (thread-safe)."""

    total: int
    budgets: dict[str, int] = field(default_factory=dict)
    window_s: float = 60.0
    clock: Clock = time.monotonic
    _windows: dict[str, Window] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def plan(cls, name: str, *, total: int | None = None, budgets: dict[str, int] | None = None,
             window_s: float = 60.0, clock: Clock = time.monotonic) -> Limits:
        """A plan's limits; ``total`` alone replaces the plan (no per-endpoint budgets unless given)."""
        if name not in PLANS:
            raise ValueError(f"unknown Freshdesk plan {name!r}: one of {', '.join(PLANS)}")
        plan_total, plan_budgets = PLANS[name]
        if total is not None:
            plan_total, plan_budgets = total, {}
        return cls(plan_total, dict(plan_budgets if budgets is None else budgets), window_s, clock)

    def _window(self, key: str, now: float) -> Window:
        window = self._windows.get(key)
        if window is None or now - window.start >= self.window_s:
            window = self._windows[key] = Window(now)
        return window

    def spend(self, cost: int, kind: str | None) -> tuple[bool, int, int]:
        """Try to spend ``cost`` credits: ``(allowed, remaining, retry_after_s)``."""
        now = self.clock()
        with self._lock:
            account = self._window("account", now)
            windows = [(account, self.total)]
            if kind in self.budgets:
                windows.append((self._window(kind, now), self.budgets[kind]))
            blocked = [(w, limit) for w, limit in windows if w.used + cost > limit]
            if blocked:
                retry = max(math.ceil(w.start + self.window_s - now) for w, _ in blocked)
                return False, max(0, self.total - account.used), max(1, retry)
            for w, _ in windows:
                w.used += cost
            return True, self.total - account.used, 0

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


def include_cost(request: Request) -> int:
    """1 credit per call plus 1 per embedded ``include=`` resource."""
    includes = [i for i in request.query_params.get("include", "").split(",") if i.strip()]
    return 1 + len(includes)


class Gate:
    """Auth and rate limits around /api/v2 (a ``BaseHTTPMiddleware`` dispatch function)."""

    def __init__(self, api_keys: Callable[[], dict[str, int]], limits: Limits):
        self.api_keys = api_keys
        self.limits = limits

    async def __call__(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if not request.url.path.startswith("/api/v2"):
            return await call_next(request)
        basic = parse_basic_auth(request.headers.get("authorization"))
        agent_id = self.api_keys().get(basic[0]) if basic else None
        if agent_id is None:
            return JSONResponse({"code": "invalid_credentials",
                                 "message": "You have to be logged in to perform this action."}, status_code=401)
        request.state.agent_id = agent_id
        cost = include_cost(request)
        allowed, remaining, retry = self.limits.spend(cost, endpoint_class(request.method, request.url.path))
        headers = {"X-RateLimit-Total": str(self.limits.total), "X-RateLimit-Remaining": str(remaining),
                   "X-RateLimit-Used-CurrentRequest": str(cost if allowed else 0),
                   "X-Freshdesk-API-Version": "latest=v2; requested=v2"}
        if not allowed:
            return JSONResponse(RATE_LIMITED, status_code=429, headers={**headers, "Retry-After": str(retry)})
        response = await call_next(request)
        response.headers.update(headers)
        return response
