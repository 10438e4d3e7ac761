"""The provider client's limiter: budgets in the shared book (store or Redis), fed by the provider's headers.

Before each request every budget it falls under must give one unit: the account's budgets, the
endpoint's (budgets with ``scope: endpoint``), and for a write to a record, the record's (keyed by
the call's declared record argument, e.g. ``ticket_id``). A short wait is slept here; a long one (an
exhausted quota, a window that resets in a minute while a worker holds a job) raises
:class:`BudgetWait`, which the worker turns into a deferral of the job to that time — a worker never
parks. After each response the headers update the budgets (read in the units the definition
declares); a budget announced as exhausted holds its key until its reset; a ``Retry-After`` holds
what the definition's ``limits.reason.scopes`` maps the throttle's reason to: the account, the
endpoint, the record, or the whole account until the quota resets (always deferred).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine

from deskhand.errors import RateLimited
from deskhand.limits.book import BudgetBook, Verdict
from deskhand.limits.headers import Reading, read_headers
from deskhand.limits.lanes import BACKFILL, INTERACTIVE, WRITE, current_lane
from deskhand.providers.client import current_call, current_is_read, current_request
from deskhand.providers.spec_limits import BudgetSpec, LimitsSpec

log = logging.getLogger(__name__)
MAX_SLEEP_S = {WRITE: 5.0, INTERACTIVE: 5.0, BACKFILL: 300.0}
UNBOUNDED = 10**9  # limit of a budget that only carries blocks (no headers seen for it)
QUOTA = "quota exhausted"  # a block with this reason is always deferred, however short
_ID_SEGMENT = re.compile(r"\d")
class Book(Protocol):
    """Where budgets live: the store (BudgetBook) or Redis (deskhand.limits.redis); same policy."""

    def acquire(self, key: str, lane: str, now: float, *, spread: bool = False) -> Verdict: ...

    def observe(self, key: str, limit: int, remaining: int, reset_s: float | None, *, sent_at: float, now: float,
                window_s: float, opened: bool = False) -> None: ...

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


def _spends(budget: BudgetSpec, endpoint: str) -> bool:
    return budget.calls is None or endpoint in budget.calls


def _shared_prefix(provider: str, value_name: str | None, values: Mapping[str, object] | None) -> str | None:
    """The key prefix of a budget shared by every account with the same connection value (a digest:
    the value may be a credential, and keys are logged)."""
    value = (values or {}).get(value_name) if value_name else None
    if value in (None, ""):
        return None
    return f"{provider}:shared-{hashlib.sha256(f'{provider}:{value_name}={value}'.encode()).hexdigest()[:16]}"


@dataclass(frozen=True, slots=True)
class Hold:
    """What observe() says: the budgets now hold requests back for `wait_s`, because `reason`."""

    wait_s: float | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class _Key:
    key: str
    static: tuple[int, float] | None = None  # (limit, window_s) known without headers
    spread: bool = False


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
        values: Mapping[str, object] | None = None,
    ) -> None:
        """`values`: the account's connection values, for budgets `shared_by` one of them."""
        self.book = book
        self.spec = spec
        self.account_key = f"{provider}:{account}"
        self._prefixes = {name: _shared_prefix(provider, b.shared_by, values) or self.account_key
                          for name, b in spec.budgets.items()}
        self.clock = clock
        self.sleep = sleep
        self.max_sleep_s = dict(max_sleep_s or MAX_SLEEP_S)
        self._local = threading.local()
        self._lock = threading.Lock()
        self.stats = {"requests": 0, "waits": 0, "wait_s": 0.0, "blocks": 0}
        self.last: Verdict | None = None
        account_wide = [n for n, b in spec.budgets.items() if b.scope == "account" and b.calls is None]
        # account-wide holds go to every account-wide budget (each request takes from them anyway),
        # or to the bare account key when the provider announces none
        self._account_holders = [f"{self._prefixes[n]}|{n}" for n in account_wide] or [self.account_key]
        # a hold that creates a budget's row gives it the size we know (else it would stay unbounded)
        self._sizes = {f"{self._prefixes[n]}|{n}": (b.default_limit, self.spec.window_of(b))
                       for n, b in spec.budgets.items() if b.default_limit and b.scope == "account"}
        self._endpoint_budget = next((n for n, b in spec.budgets.items() if b.scope == "endpoint"), None)
        scopes = set(spec.reason.scopes.values()) | {spec.reason.default} if spec.reason else set()
        self._endpoint_holds = "endpoint" in scopes and self._endpoint_budget is None
        self._record_holds = "record" in scopes or bool(spec.records and spec.records.writes)

    # -- keys ------------------------------------------------------------------------------
    def _endpoint(self, method: str, url: str) -> str:
        declared = current_call()[0]
        return declared if declared else endpoint_of(method, url)

    def budget_key(self, name: str, budget: BudgetSpec, endpoint: str) -> str:
        key = f"{self._prefixes[name]}|{name}"
        return f"{key}|{endpoint}" if budget.scope == "endpoint" else key

    def _endpoint_hold_key(self, endpoint: str) -> str:
        if self._endpoint_budget is not None:
            return self.budget_key(self._endpoint_budget, self.spec.budgets[self._endpoint_budget], endpoint)
        return f"{self.account_key}|endpoint|{endpoint}"

    def _record_hold_key(self, record: str) -> str:
        return f"{self.account_key}|record:{record}"

    def _keys(self, method: str, url: str, lane: str) -> list[_Key]:
        endpoint = self._endpoint(method, url)
        keys = [] if self._account_holders[0] != self.account_key else [_Key(self.account_key)]
        for name, budget in self.spec.budgets.items():
            if not _spends(budget, endpoint):
                continue
            static = (budget.default_limit, self.spec.window_of(budget)) if budget.default_limit else None
            keys.append(_Key(self.budget_key(name, budget, endpoint), static, budget.spread))
        if self._endpoint_holds:
            keys.append(_Key(self._endpoint_hold_key(endpoint)))
        record = current_call()[1]
        if record and lane == WRITE and self._record_holds:
            keys.append(_Key(self._record_hold_key(record)))  # carries a per-record throttle's hold
            for n, per_s in self.spec.records.writes if self.spec.records else []:
                keys.append(_Key(f"{self.account_key}|write{per_s:g}s:{record}", (n, per_s)))
        return keys

    # -- the Limiter protocol --------------------------------------------------------------
    def before_request(self) -> None:
        method, url = current_request()
        lane = current_lane("GET" if current_is_read() else method)  # a GraphQL query is a read
        for key in self._keys(method, url, lane):
            self._take(key, lane)
        self._local.sent_at = self.clock()
        with self._lock:
            self.stats["requests"] += 1

    def _take(self, key: _Key, lane: str) -> None:
        while True:
            verdict = self.book.acquire(key.key, lane, self.clock(), spread=key.spread)
            if key.static is not None and verdict.go and verdict.remaining is None:  # not in the book yet
                self.book.ensure(key.key, key.static[0], key.static[1], self.clock())
                verdict = self.book.acquire(key.key, lane, self.clock(), spread=key.spread)
            self.last = verdict
            if verdict.go:
                return
            if verdict.wait_s > self.max_sleep_s.get(lane, 5.0) or verdict.reason.startswith(QUOTA):
                log.info("limits.defer key=%s lane=%s wait=%.2fs reason=%s", key.key, lane, verdict.wait_s,
                         verdict.reason)
                raise BudgetWait(verdict)
            if verdict.wait_s >= 0.05:
                log.info("limits.wait key=%s lane=%s wait=%.2fs reason=%s", key.key, lane, verdict.wait_s,
                         verdict.reason)
            with self._lock:
                self.stats["waits"] += 1
                self.stats["wait_s"] += verdict.wait_s
            self.sleep(verdict.wait_s)

    def observe(self, headers: Mapping[str, str]) -> Hold | None:
        """Feed one response's headers into the budgets; the hold they now impose (None: none)."""
        now = self.clock()
        method, url = current_request()
        endpoint = self._endpoint(method, url)
        reading = read_headers(self.spec, headers if isinstance(headers, httpx.Headers) else httpx.Headers(headers),
                               now)
        if reading.retry_after is not None:
            return self._throttled(reading, endpoint, now)
        sent_at = getattr(self._local, "sent_at", now)
        hold: Hold | None = None
        for name, budget in self.spec.budgets.items():
            if not _spends(budget, endpoint):
                continue
            seen = reading.budgets[name]
            key = self.budget_key(name, budget, endpoint)
            window = seen.window_s or self.spec.window_of(budget)
            limit = seen.limit or budget.default_limit
            remaining = seen.remaining
            if remaining is None and seen.limit is not None:
                remaining = seen.limit - 1  # a size without a count (ServiceNow): we count, this one included
            if remaining is None or limit is None:
                continue
            reset_s, opened = seen.reset_s, False
            if reset_s is None and seen.remaining == limit - 1:
                # no reset announced, and this request was the first of the provider's window (Trello's
                # fixed windows): that window began between sending and now and ends within `window` of
                # now — it becomes ours, whatever we guessed of when windows begin
                reset_s, opened = window, True
            self.book.observe(key, limit, remaining, reset_s, sent_at=sent_at, now=now, window_s=window, opened=opened)
            if seen.exhausted:
                wait = seen.reset_s if seen.reset_s is not None else window
                reason = f"{name} budget exhausted (0 of {limit} left) until it resets"
                self._hold([key], wait, reason, now, limit, window)
                if hold is None or (hold.wait_s or 0.0) < wait:
                    hold = Hold(wait, reason)
        return hold

    def _throttled(self, reading: Reading, endpoint: str, now: float) -> Hold:
        """A throttled answer with a Retry-After: hold what its reason's scope names."""
        scope = self.spec.scope_of(reading.reason)
        wait = reading.retry_after or 0.0
        said = f"({reading.reason})" if reading.reason else "(429 Too Many Requests)"
        record = current_call()[1]
        if scope == "quota":
            wait = max(wait, reading.latest_reset() or 0.0)
            keys, reason = self._account_holders, f"{QUOTA} {said}"
        elif scope in self.spec.budgets:
            keys, reason = [self.budget_key(scope, self.spec.budgets[scope], endpoint)], f"{scope} budget {said}"
        elif scope == "endpoint":
            keys, reason = [self._endpoint_hold_key(endpoint)], f"endpoint limit {said}"
        elif scope == "record" and record:
            keys, reason = [self._record_hold_key(record)], f"record limit on {record} {said}"
        elif (own := self._own_budgets(reading, endpoint)) and self._account_has_room(reading):
            # an unexplained throttle while the account's budgets still have room: the call's own
            # quota (e.g. Zendesk's 10 incremental exports a minute), not the account's
            keys, reason = [self.budget_key(n, self.spec.budgets[n], endpoint) for n in own], f"{', '.join(own)} {said}"
        else:
            keys, reason = self._account_holders, f"account limit {said}"
        self._hold(keys, wait, f"{reason}: Retry-After {wait:g}s", now, UNBOUNDED, self.spec.window_s)
        return Hold(wait, reason)

    def throttled(self, reason: str | None = None, *, held: Hold | None = None) -> Hold:
        """A throttled answer that said nothing of how long (Trello's 429 JSON: no Retry-After).

        `reason`: the code its body carries (the definition's `errors:` rules read it); when the
        definition maps body reasons (`limits.reason.body`), what that reason's scope names waits one
        window — Trello's API_KEY_LIMIT_EXCEEDED the app key's budget (every account with the key),
        API_TOKEN_LIMIT_EXCEEDED the token's. `held`: what the answer's headers already hold (kept when
        longer). With neither, the account waits one window rather than retrying blindly."""
        now = self.clock()
        by_body = self.spec.reason is not None and self.spec.reason.body and reason is not None
        if not by_body:
            if held is not None:
                return held
            wait = self.spec.window_s
            said = "throttled without a wait: one window"
            self._hold(self._account_holders, wait, f"{said} ({wait:g}s)", now, UNBOUNDED, wait)
            return Hold(wait, said)
        scope = self.spec.scope_of(reason)
        method, url = current_request()
        endpoint = self._endpoint(method, url)
        record = current_call()[1]
        wait = self.spec.window_s
        if scope in self.spec.budgets:
            budget = self.spec.budgets[scope]
            wait = self.spec.window_of(budget)
            keys, said = [self.budget_key(scope, budget, endpoint)], f"{scope} budget ({reason})"
        elif scope == "endpoint":
            keys, said = [self._endpoint_hold_key(endpoint)], f"endpoint limit ({reason})"
        elif scope == "record" and record:
            keys, said = [self._record_hold_key(record)], f"record limit on {record} ({reason})"
        else:
            keys = self._account_holders
            said = f"{QUOTA} ({reason})" if scope == "quota" else f"account limit ({reason})"
        self._hold(keys, wait, f"{said}: one window ({wait:g}s)", now, UNBOUNDED, wait)
        if held is not None and (held.wait_s or 0.0) > wait:
            return held
        return Hold(wait, said)

    def _own_budgets(self, reading: Reading, endpoint: str) -> list[str]:
        """The budgets only this call spends (`calls` naming it), when the throttle's reason is unlisted."""
        if self.spec.reason is not None and reading.reason in self.spec.reason.scopes:
            return []
        return [n for n, b in self.spec.budgets.items() if b.calls is not None and endpoint in b.calls]

    def _account_has_room(self, reading: Reading) -> bool:
        """The throttled answer announces every account-wide budget with requests left."""
        seen = [reading.budgets[n].remaining for n, b in self.spec.budgets.items()
                if b.scope == "account" and b.calls is None and b.shared_by is None]
        return bool(seen) and all(r is not None and r > 0 for r in seen)

    def _hold(self, keys: list[str], wait: float, reason: str, now: float, limit: int, window_s: float) -> None:
        with self._lock:
            self.stats["blocks"] += 1
        for key in keys:
            log.info("limits.block key=%s wait=%.2fs reason=%s", key, wait, reason)
            size, window = self._sizes.get(key, (limit, window_s))
            self.book.block(key, now + wait, reason, now, limit=size, window_s=window)


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
    values: Mapping[str, object] | None = None,
) -> BudgetLimiter:
    """Budgets in Redis when `redis_url` is set (DESKHAND_REDIS_URL), else in the store. `values`: the
    account's connection values (budgets `shared_by` one of them are shared by every account with it)."""
    book: Book = BudgetBook(engine)
    if redis_url:
        from deskhand.limits.redis import redis_book

        book = redis_book(redis_url)
    return BudgetLimiter(book, provider, account, spec, clock=clock, sleep=sleep, max_sleep_s=max_sleep_s,
                         values=values)
