"""The provider client's limiter: budgets in the shared book (store or Redis), fed by the provider's headers.

Before each request every budget it falls under must give one unit: the account's (and, for
providers that limit per endpoint, the endpoint's; for writes with a per-record limit, the
record's). A short wait is slept here; a long one (an exhausted hourly quota, a window that resets
in a minute while a worker holds a job) raises :class:`BudgetWait`, which the worker turns into a
deferral of the job to that time — a worker never parks. After each response the headers update the
budget; a ``Retry-After`` (429) blocks the budget it names, per Jira's ``RateLimit-Reason``:
``jira-quota-*`` blocks the whole account until the quota resets, ``jira-burst-based`` the endpoint
briefly, ``jira-per-issue-on-write`` writes to that issue.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol
from urllib.parse import urlsplit

from sqlalchemy import Engine

from deskhand.errors import RateLimited
from deskhand.limits.book import BudgetBook, Verdict
from deskhand.limits.headers import Reading, read_headers
from deskhand.limits.lanes import BACKFILL, INTERACTIVE, WRITE, current_lane
from deskhand.providers.client import current_request
from deskhand.providers.definition import LimitsSpec

log = logging.getLogger(__name__)
MAX_SLEEP_S = {WRITE: 5.0, INTERACTIVE: 5.0, BACKFILL: 300.0}
UNBOUNDED = 10**9  # limit of a budget that only carries blocks (no headers seen for it)
_ID_SEGMENT = re.compile(r"\d")


class Book(Protocol):
    """Where budgets live: the store (BudgetBook) or Redis (deskhand.limits.redis); same policy."""

    def acquire(self, key: str, lane: str, now: float, *, spread: bool = False) -> Verdict: ...

    def observe(self, key: str, limit: int, remaining: int, reset_s: float | None, *, sent_at: float, now: float,
                window_s: float) -> None: ...

    def block(self, key: str, until: float, reason: str, now: float, *, limit: int = 1,
              window_s: float = 60.0) -> None: ...

    def ensure(self, key: str, limit: int, window_s: float, now: float) -> None: ...


class BudgetWait(RateLimited):
    """The budget says wait longer than this caller may sleep: come back at `retry_after`."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(
            f"rate budget {verdict.key}: wait {verdict.wait_s:.1f}s ({verdict.reason})",
            retry_after=verdict.wait_s,
            reason=verdict.reason,
        )
        self.verdict = verdict


def _segments(url: str) -> list[tuple[str, bool]]:
    """Path segments, each with whether it names a record (has a digit; not the version after 'api')."""
    parts = urlsplit(url).path.split("/")
    return [(p, bool(_ID_SEGMENT.search(p)) and (i == 0 or parts[i - 1] != "api")) for i, p in enumerate(parts)]


def endpoint_of(method: str, url: str) -> str:
    """'GET https://x/rest/api/3/issue/SUP-1/comment' -> 'GET /rest/api/3/issue/{}/comment'."""
    parts = [("{}" if is_id else p) for p, is_id in _segments(url)]
    return f"{method} {'/'.join(parts)}"


def record_of(url: str) -> str | None:
    """The record a write touches: the path up to its first id-like segment ('/issue/SUP-1')."""
    out = []
    for part, is_id in _segments(url):
        out.append(part)
        if is_id:
            return "/".join(out)
    return None


class BudgetLimiter:
    def __init__(
        self,
        book: Book,
        provider: str,
        account: str,
        spec: LimitsSpec,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        max_sleep_s: Mapping[str, float] | None = None,
    ) -> None:
        self.book = book
        self.spec = spec
        self.account_key = f"{provider}:{account}"
        self.clock = clock
        self.sleep = sleep
        self.max_sleep_s = dict(max_sleep_s or MAX_SLEEP_S)
        self._local = threading.local()
        self._lock = threading.Lock()
        self.stats = {"requests": 0, "waits": 0, "wait_s": 0.0, "blocks": 0}
        self.last: Verdict | None = None

    # -- keys ------------------------------------------------------------------------------
    def _bucket(self, method: str, url: str) -> str:
        if self.spec.bucket == "endpoint":
            return f"{self.account_key}|{endpoint_of(method, url)}"
        return self.account_key

    def _keys(self, method: str, url: str, lane: str) -> list[tuple[str, tuple[int, float] | None]]:
        keys: list[tuple[str, tuple[int, float] | None]] = [(self.account_key, None)]
        bucket = self._bucket(method, url)
        if bucket != self.account_key:
            keys.append((bucket, None))
        record = record_of(url) if lane == WRITE else None
        if record:
            keys.append((f"{self.account_key}|record:{record}", None))  # carries a per-record 429's block
            for n, per_s in self.spec.per_record_writes:
                keys.append((f"{self.account_key}|write{per_s:g}s:{record}", (n, per_s)))
        return keys

    # -- the Limiter protocol --------------------------------------------------------------
    def before_request(self) -> None:
        method, url = current_request()
        lane = current_lane(method)
        for key, static in self._keys(method, url, lane):
            if static is not None:
                self.book.ensure(key, static[0], static[1], self.clock())
            self._take(key, lane)
        self._local.sent_at = self.clock()
        with self._lock:
            self.stats["requests"] += 1

    def _take(self, key: str, lane: str) -> None:
        while True:
            verdict = self.book.acquire(key, lane, self.clock(), spread=self.spec.spread and key != self.account_key)
            self.last = verdict
            if verdict.go:
                return
            if verdict.wait_s > self.max_sleep_s.get(lane, 5.0):
                log.info("limits.defer key=%s lane=%s wait=%.2fs reason=%s", key, lane, verdict.wait_s, verdict.reason)
                raise BudgetWait(verdict)
            if verdict.wait_s >= 0.05:
                log.info("limits.wait key=%s lane=%s wait=%.2fs reason=%s", key, lane, verdict.wait_s, verdict.reason)
            with self._lock:
                self.stats["waits"] += 1
                self.stats["wait_s"] += verdict.wait_s
            self.sleep(verdict.wait_s)

    def observe(self, headers: Mapping[str, str]) -> None:
        now = self.clock()
        method, url = current_request()
        reading = read_headers(self.spec, headers, now)
        bucket = self._bucket(method, url)
        if reading.retry_after is not None:
            self._blocked(reading, method, url, bucket, now)
            return
        if reading.known:
            assert reading.limit is not None and reading.remaining is not None
            sent_at = getattr(self._local, "sent_at", now)
            self.book.observe(
                bucket, reading.limit, reading.remaining, reading.reset_s, sent_at=sent_at, now=now,
                window_s=self.spec.window_s,
            )

    def _blocked(self, reading: Reading, method: str, url: str, bucket: str, now: float) -> None:
        reason = reading.reason or "429 Too Many Requests"
        wait = reading.retry_after or 0.0
        key, limit = bucket, reading.limit or UNBOUNDED
        if reason.startswith("jira-quota") or reason.endswith("cost-based"):
            key, limit = self.account_key, UNBOUNDED
            wait = max(wait, reading.reset_s or 0.0)
            reason = f"hourly quota exhausted ({reason})"
        elif reason == "jira-per-issue-on-write":
            record = record_of(url)
            key = f"{self.account_key}|record:{record}" if record else bucket
            limit = UNBOUNDED
        elif reading.reason:
            reason = f"burst limit ({reason})"
        with self._lock:
            self.stats["blocks"] += 1
        log.info("limits.block key=%s wait=%.2fs reason=%s", key, wait, reason)
        self.book.block(key, now + wait, f"{reason}: Retry-After {wait:g}s", now, limit=limit,
                        window_s=self.spec.window_s)


def budget_limiter(
    engine: Engine,
    provider: str,
    account: str,
    spec: LimitsSpec,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    max_sleep_s: Mapping[str, float] | None = None,
    redis_url: str | None = None,
) -> BudgetLimiter:
    """Budgets in Redis when `redis_url` is set (DESKHAND_REDIS_URL), else in the store."""
    book: Book = BudgetBook(engine)
    if redis_url:
        from deskhand.limits.redis import redis_book

        book = redis_book(redis_url)
    return BudgetLimiter(book, provider, account, spec, clock=clock, sleep=sleep, max_sleep_s=max_sleep_s)
