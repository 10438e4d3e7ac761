"""The budget book in the store: one row per budget key, changed only by single atomic SQL statements.

A request takes one unit with ``UPDATE … SET remaining = remaining - 1 WHERE … AND remaining >
floor RETURNING …`` — never read-then-write — so every process sharing the store shares the budget.
When the statement matches nothing, a plain read says how long to wait and why (a ``Verdict``);
the caller sleeps or defers and tries the statement again. The statements encode the policy of
deskhand.limits.policy (the reference every backend is tested against; it also explains refusals).

Our ``remaining`` is a reservation count: the provider's own figure (``observe``) can only lower it
within a window; ``reset_at`` is an upper bound of the window's end, tightened by every response
(``min(reset_at, received + reset_s)``), and a window we assume fresh starts one second late.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import (
    Engine,
    Float,
    Integer,
    String,
    Update,
    and_,
    bindparam,
    case,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from deskhand.limits.lanes import FLOORS, PACE_BELOW, WRITE
from deskhand.limits.policy import FRESH_SLACK_S, SPREAD_MARGIN, Budget, Verdict, created, explain
from deskhand.store.tables_sync import budgets as b


def _least(a: ColumnElement[float], c: ColumnElement[float]) -> ColumnElement[float]:
    return case((a < c, a), else_=c)  # portable MIN/LEAST


def _greatest(a: ColumnElement[float], c: ColumnElement[float]) -> ColumnElement[float]:
    return case((a > c, a), else_=c)


# Each statement is built once with bind parameters (its SQL compiled once per dialect): building it
# per request with literal values cost more than a millisecond of Python per call, 25-odd calls per
# ticket. Values come as execute() parameters.
_KEY = bindparam("b_key", type_=String)
_NOW = bindparam("now", type_=Float)


@functools.cache
def _acquire_stmt(lane: str) -> Update:
    floor = FLOORS[lane]
    fresh = b.c.reset_at <= _NOW
    is_write = lane == WRITE
    spare = b.c.remaining - 1 - b.c.limit_n * floor
    paced = _greatest(b.c.next_at, _NOW) + (b.c.reset_at - _NOW) / _greatest(spare, literal(1.0))
    if is_write:
        next_at: ColumnElement[float] = b.c.next_at
    else:
        next_at = case((or_(fresh, b.c.remaining - 1 >= b.c.limit_n * PACE_BELOW), _NOW), else_=paced)
    allowed = and_(
        b.c.key == _KEY,
        b.c.blocked_until <= _NOW,
        or_(fresh, and_(b.c.remaining > b.c.limit_n * floor, literal(is_write) | (b.c.next_at <= _NOW))),
    )
    return (
        update(b)
        .where(allowed)
        .values(
            remaining=case((fresh, b.c.limit_n - 1), else_=b.c.remaining - 1),
            reset_at=case((fresh, _NOW + b.c.window_s + FRESH_SLACK_S), else_=b.c.reset_at),
            rolled_at=case((fresh, _NOW), else_=b.c.rolled_at),
            next_at=next_at,
            updated_at=_NOW,
        )
        .returning(b.c.remaining)
    )


@functools.cache
def _spread_stmt() -> Update:
    slot = _greatest(b.c.next_at, _NOW) + b.c.window_s / b.c.limit_n * SPREAD_MARGIN
    return (
        update(b)
        .where(b.c.key == _KEY, b.c.blocked_until <= _NOW, b.c.next_at <= _NOW)
        .values(next_at=slot, remaining=b.c.limit_n, updated_at=_NOW)
        .returning(b.c.remaining)
    )


@functools.cache
def _observe_stmt(with_reset: bool, opened: bool = False) -> Update:
    sent_at = bindparam("sent_at", type_=Float)
    seen: ColumnElement[Any] = bindparam("remaining_seen", type_=Integer)
    reset_until = bindparam("reset_until", type_=Float)  # now + the provider's reset_s
    stale = sent_at < b.c.rolled_at  # sent in a window we have since left
    same = b.c.reset_at > _NOW
    if opened and with_reset:  # the request opened the provider's window: it becomes ours (policy.observed)
        return (
            update(b)
            .where(b.c.key == _KEY)
            .values(
                limit_n=bindparam("limit_seen", type_=Integer),
                remaining=case((stale, b.c.remaining), else_=seen),
                reset_at=case((stale, b.c.reset_at), else_=reset_until),
                rolled_at=case((stale, b.c.rolled_at), else_=sent_at),
                window_s=case((stale, b.c.window_s), else_=_greatest(b.c.window_s, bindparam("reset_s", type_=Float))),
                updated_at=_NOW,
            )
        )
    reset_at = b.c.reset_at if not with_reset else case(
        (stale, b.c.reset_at), (same, _least(b.c.reset_at, reset_until)), else_=reset_until
    )
    return (
        update(b)
        .where(b.c.key == _KEY)
        .values(
            limit_n=bindparam("limit_seen", type_=Integer),
            remaining=case((stale, b.c.remaining), (same, _least(b.c.remaining, seen)), else_=seen),
            reset_at=reset_at,
            window_s=_greatest(b.c.window_s, bindparam("reset_s", type_=Float)),
            updated_at=_NOW,
        )
    )


class BudgetBook:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def acquire(self, key: str, lane: str, now: float, *, spread: bool = False) -> Verdict:
        """Take one request from the budget (atomically), or say how long to wait. `spread`: the
        provider gives no reset time (a token bucket): one request every window / limit (+2 %)."""
        if spread:
            return self._acquire_spread(key, lane, now)
        with self.engine.begin() as conn:
            row = conn.execute(_acquire_stmt(lane), {"b_key": key, "now": now}).first()
        if row is not None:
            return Verdict(0.0, "budget left", key, lane, int(row.remaining))
        return self._why(key, lane, now)

    def _acquire_spread(self, key: str, lane: str, now: float) -> Verdict:
        with self.engine.begin() as conn:
            row = conn.execute(_spread_stmt(), {"b_key": key, "now": now}).first()
        if row is not None:
            return Verdict(0.0, "budget left", key, lane, int(row.remaining))
        return self._why(key, lane, now, spread=True)

    def _why(self, key: str, lane: str, now: float, *, spread: bool = False) -> Verdict:
        """The statement matched nothing: the policy explains the row as it is now."""
        return explain(self.budget(key), key, lane, now, spread=spread)

    def observe(
        self, key: str, limit: int, remaining: int, reset_s: float | None, *, sent_at: float, now: float,
        window_s: float, opened: bool = False,
    ) -> None:
        """What the provider said after a request sent at `sent_at` (answered at `now`); `opened`: that
        request opened the provider's window (policy.observed)."""
        params = {
            "b_key": key, "now": now, "sent_at": sent_at, "limit_seen": limit, "remaining_seen": remaining,
            "reset_until": now + reset_s if reset_s is not None else now, "reset_s": float(reset_s or 0),
        }
        with self.engine.begin() as conn:
            changed = conn.execute(_observe_stmt(reset_s is not None, opened), params).rowcount
        if not changed:
            reset = reset_s if reset_s is not None else window_s
            if not self._create(key, limit, remaining, now + reset, max(window_s, reset), now, first_slot=True):
                self.observe(key, limit, remaining, reset_s, sent_at=sent_at, now=now, window_s=window_s,
                             opened=opened)

    def block(self, key: str, until: float, reason: str, now: float, *, limit: int = 1, window_s: float = 60.0) -> None:
        """Nobody sends on `key` before `until` (a 429's Retry-After, an exhausted quota)."""
        self._create(key, limit, 0, until, window_s, now)
        stmt = (
            update(b)
            .where(b.c.key == key)
            .values(
                blocked_until=_greatest(b.c.blocked_until, literal(until)),
                blocked_reason=reason[:200],
                remaining=0,
                reset_at=until,  # what the provider said: available again then (a fresh window is assumed)
                updated_at=now,
            )
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def ensure(self, key: str, limit: int, window_s: float, now: float) -> None:
        """A budget known without headers (e.g. Jira's per-issue writes: 20 per 2 s), its window assumed
        to begin now (policy.ensured)."""
        self._create(key, limit, limit, now + window_s + FRESH_SLACK_S, window_s, now)

    def _create(self, key: str, limit: int, remaining: int, reset_at: float, window_s: float, now: float, *,
                first_slot: bool = False) -> bool:
        state = created(limit, remaining, reset_at, window_s, now, first_slot=first_slot)
        row = {f: getattr(state, f) for f in Budget.__slots__} | {"key": key, "updated_at": now}
        try:
            with self.engine.begin() as conn:
                if conn.execute(select(b.c.key).where(b.c.key == key)).first() is not None:
                    return False
                conn.execute(insert(b).values(**row))
        except IntegrityError:
            return False  # another process created it first
        return True

    def budget(self, key: str) -> Budget | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(b).where(b.c.key == key)).first()
        if row is None:
            return None
        fields = {f: getattr(row, f) for f in Budget.__slots__}
        return Budget(**fields)

    def get(self, key: str) -> dict[str, object] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(b).where(b.c.key == key)).first()
        return dict(row._mapping) if row else None
