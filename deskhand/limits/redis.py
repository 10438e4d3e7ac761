"""Budgets in Redis (DESKHAND_REDIS_URL), shared by every process on every machine.

One hash per budget key (the fields of :class:`~deskhand.limits.policy.Budget`), changed only by
Lua scripts registered with ``register_script`` (EVALSHA): each take / observe / block / ensure
reads, decides and writes in one script, so Redis runs it atomically — never read-then-write. The
scripts encode the policy of deskhand.limits.policy (its constants are passed in, not copied) and
answer with the budget's state, which :func:`~deskhand.limits.policy.explain` turns into the
verdict without a second read. A budget hash expires an hour after its window / block ends.

When Redis is lost, :class:`FallbackBook` goes on with a per-process :class:`LocalBook` holding a
conservative share of every limit the provider announces (other processes may be spending too),
logs one warning per outage, tries Redis again every ``retry_s`` and goes back to it when it answers.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from deskhand.limits.lanes import FLOORS, PACE_BELOW, WRITE
from deskhand.limits.policy import (
    FRESH_SLACK_S,
    SPREAD_MARGIN,
    Budget,
    Verdict,
    blocked,
    created,
    ensured,
    explain,
    observed,
    take,
    take_spread,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
IDLE_TTL_S = 3600
LOCAL_SHARE = 0.25  # of each limit, per process, while Redis is lost
LOST = (redis.ConnectionError, redis.TimeoutError)

_PREAMBLE = """
local F = {'limit_n', 'remaining', 'window_s', 'reset_at', 'rolled_at', 'next_at', 'blocked_until'}
local function g(x) return string.format('%.17g', x) end
local function load(key)
  local v = redis.call('HMGET', key, 'limit_n', 'remaining', 'window_s', 'reset_at', 'rolled_at', 'next_at',
    'blocked_until', 'blocked_reason')
  if not v[1] then return nil end
  local s = {blocked_reason = v[8] or ''}
  for i = 1, 7 do s[F[i]] = tonumber(v[i]) end
  return s
end
local function create(limit, remaining, reset_at, window_s, now, first_slot, margin)
  local next_at = 0
  if first_slot then next_at = now + window_s / math.max(limit, 1) * margin end
  return {limit_n = limit, remaining = remaining, window_s = window_s, reset_at = reset_at, rolled_at = now,
    next_at = next_at, blocked_until = 0, blocked_reason = ''}
end
local function save(key, s, now)
  redis.call('HSET', key, 'limit_n', g(s.limit_n), 'remaining', g(s.remaining), 'window_s', g(s.window_s),
    'reset_at', g(s.reset_at), 'rolled_at', g(s.rolled_at), 'next_at', g(s.next_at),
    'blocked_until', g(s.blocked_until), 'blocked_reason', s.blocked_reason, 'updated_at', g(now))
  local horizon = math.max(s.reset_at, s.blocked_until, s.next_at, now) - now
  redis.call('EXPIRE', key, math.floor(horizon + s.window_s) + IDLE_TTL)
end
local function reply(ok, s)
  if not s then return {ok} end
  return {ok, g(s.limit_n), g(s.remaining), g(s.window_s), g(s.reset_at), g(s.rolled_at), g(s.next_at),
    g(s.blocked_until), s.blocked_reason}
end
""".replace("IDLE_TTL", str(IDLE_TTL_S))

# ARGV: now, floor share, pace-below share, is write (0/1), spread (0/1), spread margin
_TAKE = _PREAMBLE + """
local now, floor, pace = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local write, spread, margin = ARGV[4] == '1', ARGV[5] == '1', tonumber(ARGV[6])
local s = load(KEYS[1])
if not s then return {0} end
if spread then
  if s.blocked_until > now or s.next_at > now then return reply(0, s) end
  s.next_at = math.max(s.next_at, now) + s.window_s / s.limit_n * margin
  s.remaining = s.limit_n
  save(KEYS[1], s, now)
  return reply(1, s)
end
local fresh = s.reset_at <= now
local lowest = s.limit_n * floor
if s.blocked_until > now or not (fresh or (s.remaining > lowest and (write or s.next_at <= now))) then
  return reply(0, s)
end
if not write then
  if fresh or s.remaining - 1 >= s.limit_n * pace then
    s.next_at = now
  else
    s.next_at = math.max(s.next_at, now) + (s.reset_at - now) / math.max(s.remaining - 1 - lowest, 1)
  end
end
if fresh then
  s.remaining = s.limit_n - 1
  s.reset_at = now + s.window_s + SLACK
  s.rolled_at = now
else
  s.remaining = s.remaining - 1
end
save(KEYS[1], s, now)
return reply(1, s)
""".replace("SLACK", repr(FRESH_SLACK_S))

# ARGV: limit, remaining, reset_s ('' when unknown), sent_at, now, default window_s, spread margin, opened (0/1)
_OBSERVE = _PREAMBLE + """
local limit, rem, reset_s = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local sent_at, now, window_s, margin = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local opened = ARGV[8] == '1'
local s = load(KEYS[1])
if not s then
  local reset = reset_s or window_s
  s = create(limit, rem, now + reset, math.max(window_s, reset), now, true, margin)
elseif opened and reset_s and not (sent_at < s.rolled_at) then
  s.limit_n = limit
  s.remaining = rem
  s.reset_at = now + reset_s
  s.rolled_at = sent_at
  s.window_s = math.max(s.window_s, reset_s)
else
  local stale = sent_at < s.rolled_at
  local same = s.reset_at > now
  if not stale then
    if reset_s then
      if same then s.reset_at = math.min(s.reset_at, now + reset_s) else s.reset_at = now + reset_s end
    end
    if same then s.remaining = math.min(s.remaining, rem) else s.remaining = rem end
  end
  s.limit_n = limit
  s.window_s = math.max(s.window_s, reset_s or 0)
end
save(KEYS[1], s, now)
return reply(1, s)
"""

# ARGV: until, reason, now, limit, window_s
_BLOCK = _PREAMBLE + """
local till, now = tonumber(ARGV[1]), tonumber(ARGV[3])
local s = load(KEYS[1]) or create(tonumber(ARGV[4]), 0, till, tonumber(ARGV[5]), now, false, 0)
s.blocked_until = math.max(s.blocked_until, till)
s.blocked_reason = ARGV[2]
s.remaining = 0
s.reset_at = till
save(KEYS[1], s, now)
return reply(1, s)
"""

# ARGV: limit, window_s, now
_ENSURE = _PREAMBLE + """
local s = load(KEYS[1])
if s then return reply(0, s) end
local limit, window_s, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
s = create(limit, limit, now + window_s + SLACK, window_s, now, false, 0)
save(KEYS[1], s, now)
return reply(1, s)
""".replace("SLACK", repr(FRESH_SLACK_S))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _budget(reply: list[Any]) -> Budget | None:
    if len(reply) < 9:
        return None
    n = [float(_text(v)) for v in reply[1:8]]
    reason = _text(reply[8]) or None
    return Budget(int(n[0]), int(n[1]), n[2], n[3], n[4], n[5], n[6], reason)


class RedisBook:
    """The budgets in one Redis, every change a registered Lua script (raises when Redis is lost)."""

    def __init__(self, client: redis.Redis, prefix: str = "deskhand:budget:") -> None:
        self.client = client
        self.prefix = prefix
        self._take = client.register_script(_TAKE)
        self._observe = client.register_script(_OBSERVE)
        self._block = client.register_script(_BLOCK)
        self._ensure = client.register_script(_ENSURE)

    def acquire(self, key: str, lane: str, now: float, *, spread: bool = False) -> Verdict:
        args: list[str | int] = [repr(now), repr(FLOORS[lane]), repr(PACE_BELOW), int(lane == WRITE), int(spread),
                                 repr(SPREAD_MARGIN)]
        reply = self._take(keys=[self.prefix + key], args=args)
        state = _budget(reply)
        if int(reply[0]) == 1 and state is not None:
            return Verdict(0.0, "budget left", key, lane, state.remaining)
        return explain(state, key, lane, now, spread=spread)

    def observe(self, key: str, limit: int, remaining: int, reset_s: float | None, *, sent_at: float, now: float,
                window_s: float, opened: bool = False) -> None:
        reset = "" if reset_s is None else repr(float(reset_s))
        args: list[str | int] = [limit, remaining, reset, repr(sent_at), repr(now), repr(float(window_s)),
                                 repr(SPREAD_MARGIN), int(opened)]
        self._observe(keys=[self.prefix + key], args=args)

    def block(self, key: str, until: float, reason: str, now: float, *, limit: int = 1, window_s: float = 60.0) -> None:
        self._block(keys=[self.prefix + key], args=[repr(until), reason[:200], repr(now), limit, repr(float(window_s))])

    def ensure(self, key: str, limit: int, window_s: float, now: float) -> None:
        self._ensure(keys=[self.prefix + key], args=[limit, repr(float(window_s)), repr(now)])

    def budget(self, key: str) -> Budget | None:
        fields = list(Budget.__slots__)
        values: list[Any] = self.client.hmget(self.prefix + key, fields)  # type: ignore[assignment]
        if values[0] is None:
            return None
        return _budget([1, *values])

    def get(self, key: str) -> dict[str, object] | None:
        state = self.budget(key)
        return asdict(state) if state else None


class LocalBook:
    """This process's own budgets in memory, the policy functions run under a lock.

    `share` scales every limit the provider announces (and every static limit): with Redis lost,
    this process cannot see what the others spend, so it keeps to a share of the budget."""

    def __init__(self, share: float = 1.0) -> None:
        self.share = share
        self._budgets: dict[str, Budget] = {}
        self._lock = threading.Lock()

    def _scaled(self, n: int) -> int:
        return max(1, math.floor(n * self.share))

    def acquire(self, key: str, lane: str, now: float, *, spread: bool = False) -> Verdict:
        with self._lock:
            state = self._budgets.get(key)
            after = None if state is None else (take_spread(state, now) if spread else take(state, lane, now))
            if after is not None:
                self._budgets[key] = after
                return Verdict(0.0, "budget left", key, lane, after.remaining)
        return explain(state, key, lane, now, spread=spread)

    def observe(self, key: str, limit: int, remaining: int, reset_s: float | None, *, sent_at: float, now: float,
                window_s: float, opened: bool = False) -> None:
        limit, remaining = self._scaled(limit), math.floor(remaining * self.share)
        with self._lock:
            state = self._budgets.get(key)
            if state is None:
                reset = reset_s if reset_s is not None else window_s
                self._budgets[key] = created(limit, remaining, now + reset, max(window_s, reset), now, first_slot=True)
            else:
                self._budgets[key] = observed(state, limit, remaining, reset_s, sent_at=sent_at, now=now,
                                              opened=opened)

    def block(self, key: str, until: float, reason: str, now: float, *, limit: int = 1, window_s: float = 60.0) -> None:
        with self._lock:
            state = self._budgets.get(key) or created(self._scaled(limit), 0, until, window_s, now)
            self._budgets[key] = blocked(state, until, reason)

    def ensure(self, key: str, limit: int, window_s: float, now: float) -> None:
        with self._lock:
            if key not in self._budgets:
                n = self._scaled(limit)
                self._budgets[key] = ensured(n, window_s, now)

    def budget(self, key: str) -> Budget | None:
        with self._lock:
            return self._budgets.get(key)

    def get(self, key: str) -> dict[str, object] | None:
        state = self.budget(key)
        return asdict(state) if state else None

    def forget(self) -> None:
        with self._lock:
            self._budgets.clear()


class FallbackBook:
    """Redis while it answers; a conservative local book while it is lost (one warning per outage)."""

    def __init__(self, remote: RedisBook, local: LocalBook | None = None, *, retry_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.remote = remote
        self.local = local or LocalBook(LOCAL_SHARE)
        self.retry_s = retry_s
        self.clock = clock
        self._down_until = 0.0
        self._lock = threading.Lock()
        self.outages = 0

    @property
    def on_redis(self) -> bool:
        return self._down_until == 0.0

    def _run(self, call: Callable[[Any], T]) -> T:
        if self._down_until and self.clock() < self._down_until:
            return call(self.local)
        try:
            out = call(self.remote)
        except LOST as exc:
            self._lost(exc)
            return call(self.local)
        if self._down_until:
            self._back()
        return out

    def _lost(self, exc: Exception) -> None:
        with self._lock:
            first = self._down_until == 0.0
            self._down_until = self.clock() + self.retry_s
            if first:
                self.outages += 1
        if first:
            log.warning(
                "limits.redis_lost error=%s: rate budgets fall back to this process alone at %.0f%% of each limit; "
                "retrying Redis every %.0f s", exc.__class__.__name__, self.local.share * 100, self.retry_s,
            )

    def _back(self) -> None:
        with self._lock:
            was_down, self._down_until = self._down_until != 0.0, 0.0
        if was_down:
            self.local.forget()  # the next outage starts from what the provider says then
            log.warning("limits.redis_back: rate budgets shared in Redis again")

    def acquire(self, key: str, lane: str, now: float, *, spread: bool = False) -> Verdict:
        return self._run(lambda book: book.acquire(key, lane, now, spread=spread))

    def observe(self, key: str, limit: int, remaining: int, reset_s: float | None, *, sent_at: float, now: float,
                window_s: float, opened: bool = False) -> None:
        self._run(lambda book: book.observe(key, limit, remaining, reset_s, sent_at=sent_at, now=now,
                                            window_s=window_s, opened=opened))

    def block(self, key: str, until: float, reason: str, now: float, *, limit: int = 1, window_s: float = 60.0) -> None:
        self._run(lambda book: book.block(key, until, reason, now, limit=limit, window_s=window_s))

    def ensure(self, key: str, limit: int, window_s: float, now: float) -> None:
        self._run(lambda book: book.ensure(key, limit, window_s, now))

    def get(self, key: str) -> dict[str, object] | None:
        return self._run(lambda book: book.get(key))


def redis_client(url: str, timeout_s: float = 0.25) -> redis.Redis:
    """A client that fails fast: no retries with back-off (redis-py's default sleeps seconds), since a
    lost Redis is answered by the local fallback and probed again every `retry_s` anyway."""
    return redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                retry=Retry(NoBackoff(), 0))


@functools.cache
def redis_book(url: str) -> FallbackBook:
    """The process's book for DESKHAND_REDIS_URL (one client and one local fallback per URL)."""
    return FallbackBook(RedisBook(redis_client(url)))


__all__ = ["LOCAL_SHARE", "FallbackBook", "LocalBook", "RedisBook", "redis_book", "redis_client"]
