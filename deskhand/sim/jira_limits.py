"""Jira Cloud's three rate-limit systems, as the simulator enforces them (FACTS §2.5).

1. Burst: per endpoint x method, per second (defaults GET 100, POST 100, PUT 50, DELETE 50; a few
   endpoints have their own budget) -> `RateLimit-Reason: jira-burst-based`.
2. Per-issue writes: 20 writes / 2 s and 100 writes / 30 s on one issue ->
   `jira-per-issue-on-write`.
3. Optional hourly points quota (off by default: API-token traffic is not charged) resetting at the
   top of each UTC hour; 1 point per request + 1 per issue/project read + 2 per user read, writes
   1 -> `jira-quota-tenant-based` (or `jira-quota-global-based`). `X-RateLimit-NearLimit: true`
   under 20% left.

Every answer carries `X-RateLimit-Limit` / `X-RateLimit-Remaining`; a 429 adds `Retry-After` (whole
seconds), `X-RateLimit-Reset` (ISO-8601 UTC) and `RateLimit-Reason`.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from deskhand.sim.base import FixedWindowLimiter, iso_utc

Clock = Callable[[], float]


@dataclass(frozen=True)
class RateLimits:
    """Configuration. `burst` per method; `overrides` per "METHOD /path-template" (after /rest/api/N)."""

    burst: dict[str, int] = field(default_factory=lambda: {"GET": 100, "POST": 100, "PUT": 50, "DELETE": 50})
    overrides: dict[str, int] = field(default_factory=lambda: {
        "GET /issue/{key}": 150, "GET /issue/{key}/changelog": 200, "POST /search/approximate-count": 150,
    })
    per_issue_writes: tuple[tuple[int, float], ...] = ((20, 2.0), (100, 30.0))
    hourly_points: int | None = None
    points_pool: str = "tenant"  # tenant | global
    enabled: bool = True

    @classmethod
    def off(cls) -> RateLimits:
        return cls(enabled=False)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    headers: dict[str, str]


_TEMPLATES = [
    (re.compile(r"^/issue/[^/]+$"), "/issue/{key}"),
    (re.compile(r"^/issue/[^/]+/(\w+)(/[^/]+)?$"), "/issue/{key}/\\1"),
    (re.compile(r"^/request/[^/]+(/\w+)?$"), "/request/{key}\\1"),
]


def endpoint_class(method: str, path: str) -> str:
    """'GET /rest/api/3/issue/SUP-1' -> 'GET /issue/{key}' (the burst bucket a request falls in)."""
    tail = re.sub(r"^/rest/(api/(2|3|latest)|servicedeskapi)", "", path)
    for pattern, template in _TEMPLATES:
        if pattern.match(tail):
            tail = pattern.sub(template, tail)
            break
    return f"{method} {tail}"


class Limiter:
    """Applies a RateLimits config; thread-safe; `clock` in wall-clock seconds (injectable)."""

    def __init__(self, config: RateLimits, clock: Clock = time.time):
        self.config = config
        self.clock = clock
        self._burst: dict[str, FixedWindowLimiter] = {}
        self._issue = [FixedWindowLimiter(n, window, clock) for n, window in config.per_issue_writes]
        self._lock = threading.Lock()
        self._points_hour = -1
        self._points_used = 0
        self.denials: list[str] = []  # RateLimit-Reason of every 429 answered (inspection, tests)

    def _bucket(self, cls: str) -> FixedWindowLimiter:
        with self._lock:
            if cls not in self._burst:
                method = cls.split(" ", 1)[0]
                limit = self.config.overrides.get(cls) or self.config.burst.get(method, 100)
                self._burst[cls] = FixedWindowLimiter(limit, 1.0, self.clock)
            return self._burst[cls]

    def check(self, method: str, path: str, issue_id: str | None = None) -> Verdict:
        """Before serving a request. Write to an issue: pass its id for the per-issue limits."""
        if not self.config.enabled:
            return Verdict(True, {})
        quota = self._quota_headers()
        if quota is not None and quota[0] <= 0:
            reset = self._hour_end()
            reason = f"jira-quota-{self.config.points_pool}-based"
            return self._denied(reason, reset, self.config.hourly_points or 0)
        burst = self._bucket(endpoint_class(method, path)).hit()
        if not burst.allowed:
            return self._denied("jira-burst-based", self.clock() + burst.reset_s, burst.limit)
        if issue_id is not None and method in ("POST", "PUT", "DELETE"):
            for limiter in self._issue:
                result = limiter.hit(issue_id)
                if not result.allowed:
                    return self._denied("jira-per-issue-on-write", self.clock() + result.reset_s, result.limit)
        headers = {"X-RateLimit-Limit": str(burst.limit), "X-RateLimit-Remaining": str(burst.remaining)}
        if quota is not None:
            remaining, limit = quota
            headers.update({"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining)})
            if remaining < 0.2 * limit:
                headers["X-RateLimit-NearLimit"] = "true"
        return Verdict(True, headers)

    def charge(self, points: int) -> None:
        """After serving a request: spend points from the hourly quota (if one is configured)."""
        if not self.config.enabled or self.config.hourly_points is None:
            return
        with self._lock:
            self._roll_hour()
            self._points_used += points

    def _roll_hour(self) -> None:
        hour = int(self.clock() // 3600)
        if hour != self._points_hour:
            self._points_hour, self._points_used = hour, 0

    def _quota_headers(self) -> tuple[int, int] | None:
        limit = self.config.hourly_points
        if limit is None:
            return None
        with self._lock:
            self._roll_hour()
            return max(0, limit - self._points_used), limit

    def _hour_end(self) -> float:
        return (math.floor(self.clock() / 3600) + 1) * 3600

    def _denied(self, reason: str, reset_at: float, limit: int) -> Verdict:
        wait = max(1, math.ceil(reset_at - self.clock()))
        self.denials.append(reason)
        return Verdict(False, {
            "Retry-After": str(wait),
            "X-RateLimit-Reset": iso_utc(math.ceil(reset_at)),
            "RateLimit-Reason": reason,
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
        })

    def reset(self) -> None:
        with self._lock:
            self._burst.clear()
            self._points_used = 0
        for limiter in self._issue:
            limiter.reset()


def points_for(method: str, issues: int = 0, users: int = 0, projects: int = 0) -> int:
    """Cost of one request in the points model: writes 1; reads 1 + objects (+2 per identity object)."""
    if method != "GET" and not issues and not users and not projects:
        return 1
    return 1 + issues + projects + 2 * users
