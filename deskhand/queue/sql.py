"""The queue on the SQL store (SQLite and PostgreSQL share this code; the claim differs a little).

Claim is one atomic statement: UPDATE … WHERE id = (SELECT … LIMIT 1) RETURNING …, under SQLite's
BEGIN IMMEDIATE or PostgreSQL's FOR UPDATE SKIP LOCKED, so two workers never take the same job.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Float, String, and_, bindparam, func, insert, or_, select, update

from deskhand.queue.port import PRIORITY_EVENT, Job
from deskhand.store.db import insert_or_skip
from deskhand.store.schema import jobs

log = logging.getLogger(__name__)
_PLAIN_INSERT = insert(jobs).returning(jobs.c.id)  # built once; values come as execute() parameters


# The claim and the ack run once or more per job: built once with bind parameters (building them per
# call, with the values inline, cost more Python than executing them).
def _claim_statement(skip_locked: bool) -> Any:
    t = bindparam("b_now", type_=Float)
    runnable = or_(
        and_(jobs.c.status == "queued", jobs.c.run_at <= t),
        and_(jobs.c.status == "running", jobs.c.lease_until < t),
    )
    pick = select(jobs.c.id).where(runnable).order_by(jobs.c.priority, jobs.c.run_at, jobs.c.id).limit(1)
    if skip_locked:
        pick = pick.with_for_update(skip_locked=True)
    return (
        update(jobs)
        .where(jobs.c.id == pick.scalar_subquery())
        .values(
            status="running",
            lease_until=bindparam("b_lease_until", type_=Float),
            lease_owner=bindparam("b_owner", type_=String),
            attempts=jobs.c.attempts + 1,
            updated_at=t,
        )
        .returning(jobs.c.id, jobs.c.kind, jobs.c.payload, jobs.c.attempts, jobs.c.max_attempts, jobs.c.dedupe_key)
    )


_ACK = (
    update(jobs)
    .where(jobs.c.id == bindparam("b_id"), jobs.c.status == "running", jobs.c.lease_owner == bindparam("b_owner"))
    .values(status="done", lease_until=None, updated_at=bindparam("b_now", type_=Float))
)


def _job_row(
    kind: str, dedupe_key: str | None, payload: dict[str, Any], priority: int, max_attempts: int, now: float,
    run_at: float,
) -> dict[str, Any]:
    """A new job's row, queued and due at `run_at`."""
    return dict(kind=kind, dedupe_key=dedupe_key, payload=payload, status="queued", priority=priority, attempts=0,
                max_attempts=max_attempts, run_at=run_at, created_at=now, updated_at=now)


DAY_S = 24 * 3600.0
BACKOFF_BASE_S, BACKOFF_CAP_S, JITTER = 2.0, 1800.0, 0.2


def backoff_s(attempt: int, *, base: float = BACKOFF_BASE_S, cap: float = BACKOFF_CAP_S) -> float:
    """Exponential backoff capped at 30 minutes, minus up to 20 % jitter: attempt 1 → 1.6-2 s,
    2 → 3.2-4 s, …, 11 and later → 24-30 min (the jitter spreads a burst's retries apart)."""
    ceiling = min(cap, base ** min(attempt, 64))
    return ceiling * (1.0 - JITTER * random.random())


def attempts_to_span(seconds: float) -> int:
    """How many attempts a job needs so that its retries, at the shortest backoff the jitter can
    draw, span at least `seconds` before it is dead-lettered."""
    spent, attempts = 0.0, 1
    while spent < seconds:
        spent += min(BACKOFF_CAP_S, BACKOFF_BASE_S**attempts) * (1.0 - JITTER)
        attempts += 1
    return attempts


# A job's attempts before it is dead-lettered, unless its enqueuer says otherwise: enough that a
# helpdesk down for a day delays answers and loses none (70 attempts; the circuit breaker in
# deskhand.queue.breaker keeps an outage from spending them on every job).
MAX_ATTEMPTS = attempts_to_span(DAY_S)


class SqlQueue:
    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock
        self._skip_locked = engine.dialect.name == "postgresql"
        self._claim = _claim_statement(self._skip_locked)

    def enqueue(
        self,
        conn: Connection | None,
        kind: str,
        payload: dict[str, Any],
        *,
        dedupe_key: str | None = None,
        priority: int = PRIORITY_EVENT,
        run_at: float | None = None,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> int | None:
        if conn is None:
            with self.engine.begin() as own:
                return self.enqueue(
                    own,
                    kind,
                    payload,
                    dedupe_key=dedupe_key,
                    priority=priority,
                    run_at=run_at,
                    max_attempts=max_attempts,
                )
        t = self.clock()
        stmt: Any
        if dedupe_key is None:
            stmt = _PLAIN_INSERT
        else:
            stmt = insert_or_skip(conn, jobs, "dedupe_key", returning=jobs.c.id)
        params = _job_row(kind, dedupe_key, payload, priority, max_attempts, t, run_at if run_at is not None else t)
        row = conn.execute(stmt, params).first()
        return None if row is None else int(row[0])  # no row: the dedupe key was taken

    def enqueue_many(
        self,
        conn: Connection,
        kind: str,
        items: Sequence[tuple[dict[str, Any], str]],
        *,
        priority: int = PRIORITY_EVENT,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        """(payload, dedupe key) jobs, due now, in one multi-row INSERT; a taken key is skipped."""
        if not items:
            return
        t = self.clock()
        rows = [_job_row(kind, key, payload, priority, max_attempts, t, t) for payload, key in items]
        conn.execute(insert_or_skip(conn, jobs, "dedupe_key"), rows)

    def claim(self, owner: str, *, lease_s: float = 60.0) -> Job | None:
        t = self.clock()
        params = {"b_now": t, "b_lease_until": t + lease_s, "b_owner": owner}
        with self.engine.begin() as conn:
            row = conn.execute(self._claim, params).first()
        if row is None:
            return None
        return Job(
            id=row.id,
            kind=row.kind,
            payload=row.payload,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            dedupe_key=row.dedupe_key,
        )

    def _owned(self, job: Job, owner: str) -> Any:
        return and_(jobs.c.id == job.id, jobs.c.status == "running", jobs.c.lease_owner == owner)

    def ack(self, job: Job, owner: str) -> bool:
        with self.engine.begin() as conn:
            res = conn.execute(_ACK, {"b_id": job.id, "b_owner": owner, "b_now": self.clock()})
        return res.rowcount == 1

    def retry(
        self, job: Job, owner: str, error: str, *, delay_s: float | None = None, final: bool = False
    ) -> str:
        dead = final or job.attempts >= job.max_attempts
        status = "dead" if dead else "queued"
        delay = delay_s if delay_s is not None else backoff_s(job.attempts)
        t = self.clock()
        with self.engine.begin() as conn:
            conn.execute(
                update(jobs)
                .where(self._owned(job, owner))
                .values(
                    status=status, run_at=t + delay, lease_until=None, last_error=error[:2000], updated_at=t
                )
            )
        log.warning(
            "job %s %s attempt %d/%d failed: %s -> %s",
            job.id,
            job.kind,
            job.attempts,
            job.max_attempts,
            error[:200],
            status,
        )
        return status

    def defer(self, job: Job, owner: str, run_at: float, reason: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(jobs)
                .where(self._owned(job, owner))
                .values(
                    status="queued",
                    run_at=run_at,
                    lease_until=None,
                    attempts=jobs.c.attempts - 1,
                    last_error=f"deferred: {reason}"[:2000],
                    updated_at=self.clock(),
                )
            )

    def extend(self, job: Job, owner: str, lease_s: float) -> bool:
        t = self.clock()
        with self.engine.begin() as conn:
            res = conn.execute(update(jobs).where(self._owned(job, owner)).values(lease_until=t + lease_s))
        return res.rowcount == 1

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status)).all()
        return {r[0]: int(r[1]) for r in rows}

    def dead_jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        q = select(jobs).where(jobs.c.status == "dead").order_by(jobs.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q).all()]
