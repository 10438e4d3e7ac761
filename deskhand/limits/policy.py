"""The budget policy, written once as pure functions of a budget's state.

Every backend stores the same eight fields per budget and changes them atomically in its own
storage language — one SQL ``UPDATE … RETURNING`` (book.py), one Lua script in Redis (redis.py), a
lock around a dict (the local fallback, which runs these functions directly). The functions here
are the reference: the local book uses them as they are, tests/test_limits_redis.py checks the SQL
and Lua encodings step for step against them, and every backend explains a refusal with
:func:`explain` (so reasons and waits are the same everywhere).

- :func:`take`: a fresh window refills; a lane may spend down to its floor; under ``PACE_BELOW`` of
  the limit non-write requests are spaced to the window's end; writes are never paced;
- :func:`take_spread`: a token bucket without reset times: one request every window / limit (+2 %);
- :func:`observed`: the provider's figure can only lower ours within a window; a response sent in a
  window we have since left is ignored; a reset time tightens ``reset_at``; a request that opened the
  provider's window (``opened``) makes that window ours;
- :func:`blocked`: a ``Retry-After`` holds everyone until then.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from deskhand.limits.lanes import FLOORS, PACE_BELOW, WRITE

SPREAD_MARGIN = 1.02
FRESH_SLACK_S = 1.0  # a window we assume fresh (we did not see it begin) ends this much later than its length


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision for one request: go (wait_s == 0) or wait that long, and why."""

    wait_s: float
    reason: str
    key: str
    lane: str
    remaining: int | None = None

    @property
    def go(self) -> bool:
        return self.wait_s <= 0


@dataclass(frozen=True, slots=True)
class Budget:
    """One budget's state, the same fields in every backend (see store/tables_sync.py)."""

    limit_n: int
    remaining: int
    window_s: float
    reset_at: float  # the window's end (an upper bound)
    rolled_at: float  # when we last assumed a fresh window
    next_at: float  # proactive pacing: earliest next non-write request
    blocked_until: float = 0.0
    blocked_reason: str | None = None


def created(limit: int, remaining: int, reset_at: float, window_s: float, now: float, *,
            first_slot: bool = False) -> Budget:
    """A new budget; `first_slot`: the request just answered took the first slot of a spread budget."""
    next_at = now + window_s / max(limit, 1) * SPREAD_MARGIN if first_slot else 0.0
    return Budget(limit, remaining, window_s, reset_at, now, next_at)


def take(s: Budget, lane: str, now: float) -> Budget | None:
    """The budget after one request in `lane` at `now`, or None when it may not go now."""
    floor = s.limit_n * FLOORS[lane]
    fresh = s.reset_at <= now
    is_write = lane == WRITE
    if s.blocked_until > now or not (fresh or (s.remaining > floor and (is_write or s.next_at <= now))):
        return None
    next_at = s.next_at
    if not is_write:
        if fresh or s.remaining - 1 >= s.limit_n * PACE_BELOW:
            next_at = now
        else:
            next_at = max(s.next_at, now) + (s.reset_at - now) / max(s.remaining - 1 - floor, 1.0)
    if fresh:
        return replace(s, remaining=s.limit_n - 1, reset_at=now + s.window_s + FRESH_SLACK_S, rolled_at=now,
                       next_at=next_at)
    return replace(s, remaining=s.remaining - 1, next_at=next_at)


def take_spread(s: Budget, now: float) -> Budget | None:
    if s.blocked_until > now or s.next_at > now:
        return None
    return replace(s, next_at=max(s.next_at, now) + s.window_s / s.limit_n * SPREAD_MARGIN, remaining=s.limit_n)


def observed(s: Budget, limit: int, remaining: int, reset_s: float | None, *, sent_at: float, now: float,
             opened: bool = False) -> Budget:
    """`opened`: the request opened the provider's window (it answered limit - 1 and no reset time):
    that window — begun between `sent_at` and `now`, ending `reset_s` after now — becomes ours."""
    stale = sent_at < s.rolled_at  # sent in a window we have since left
    if opened and reset_s is not None and not stale:
        return replace(s, limit_n=limit, remaining=remaining, reset_at=now + reset_s, rolled_at=sent_at,
                       window_s=max(s.window_s, float(reset_s)))
    same = s.reset_at > now
    reset_at = s.reset_at
    if reset_s is not None and not stale:
        reset_at = min(s.reset_at, now + reset_s) if same else now + reset_s
    mine = s.remaining if stale else (min(s.remaining, remaining) if same else remaining)
    return replace(s, limit_n=limit, remaining=mine, reset_at=reset_at, window_s=max(s.window_s, float(reset_s or 0)))


def ensured(limit: int, window_s: float, now: float) -> Budget:
    """A budget known without headers, full, in a window assumed to begin now (its end: an upper bound)."""
    return created(limit, limit, now + window_s + FRESH_SLACK_S, window_s, now)


def blocked(s: Budget, until: float, reason: str) -> Budget:
    """Nobody sends before `until`; available again then (a fresh window is assumed)."""
    return replace(s, blocked_until=max(s.blocked_until, until), blocked_reason=reason[:200], remaining=0,
                   reset_at=until)


def explain(s: Budget | None, key: str, lane: str, now: float, *, spread: bool = False) -> Verdict:
    """Why a request may not take from `s` now, and how long to wait (go when nothing holds it)."""
    if s is None:
        return Verdict(0.0, "no budget known yet", key, lane)
    if s.blocked_until > now:
        return Verdict(s.blocked_until - now, s.blocked_reason or "blocked", key, lane, s.remaining)
    if s.reset_at > now and s.remaining <= s.limit_n * FLOORS[lane]:
        if spread:  # windows mean nothing to a token bucket: only the spacing
            return Verdict(0.001, "spread: next slot", key, lane, s.remaining)
        reason = f"{lane} floor reached ({s.remaining} of {s.limit_n} left) until the window resets"
        return Verdict(s.reset_at - now, reason, key, lane, s.remaining)
    if s.next_at > now:
        reason = f"pacing: {s.remaining} of {s.limit_n} left, spread to the window's end"
        return Verdict(s.next_at - now, reason, key, lane, s.remaining)
    return Verdict(0.001, "contended: try again", key, lane, s.remaining)  # changed under us
