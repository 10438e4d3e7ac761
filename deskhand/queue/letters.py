"""Looking at jobs and acting on dead letters: `deskhand jobs list|retry|drop`.

- list: jobs by state (queued, running, done, dead, dropped), newest first, with their last error;
- retry: a dead (or dropped) job goes back to the queue with a fresh set of attempts, due now; a
  queued job that waits for its backoff or for a circuit breaker is made due now;
- drop: a dead or queued job is set aside as `dropped` — kept (with its dedupe key, so the same
  webhook is not queued again) and retryable later, never deleted.
Each change is one conditional UPDATE, so a job a worker holds (running) is never changed under it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from deskhand.errors import DeskhandError, NotFoundError
from deskhand.store.schema import jobs

STATES = ("queued", "running", "done", "dead", "dropped")
RETRYABLE = ("dead", "dropped", "queued")
DROPPABLE = ("dead", "queued")


class JobStateError(DeskhandError):
    """The job exists but is in a state the operation does not apply to."""


def list_jobs(engine: Engine, *, state: str | None = None, kind: str | None = None,
              limit: int = 50) -> list[dict[str, Any]]:
    if state is not None and state not in STATES:
        raise DeskhandError(f"unknown job state {state!r}: use one of {', '.join(STATES)}")
    q = select(jobs).order_by(jobs.c.id.desc()).limit(max(1, limit))
    if state:
        q = q.where(jobs.c.status == state)
    if kind:
        q = q.where(jobs.c.kind == kind)
    with engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(q).all()]


def get_job(engine: Engine, job_id: int, conn: Connection | None = None) -> dict[str, Any]:
    if conn is None:
        with engine.connect() as c:
            return get_job(engine, job_id, c)
    row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
    if row is None:
        raise NotFoundError(f"no job {job_id}: see `deskhand jobs list`")
    return dict(row._mapping)


def retry_job(engine: Engine, job_id: int, clock: Callable[[], float],
              conn: Connection | None = None) -> dict[str, Any]:
    """Put a dead, dropped or waiting job back in the queue, due now; returns the job as it was.
    With `conn`, in that transaction (the console writes its audit row beside it)."""
    job = get_job(engine, job_id, conn)
    t = clock()
    fresh = {"attempts": 0} if job["status"] in ("dead", "dropped") else {}
    with _in(engine, conn) as c:
        res = c.execute(
            update(jobs).where(jobs.c.id == job_id, jobs.c.status.in_(RETRYABLE))
            .values(status="queued", run_at=t, lease_until=None, lease_owner=None, updated_at=t, **fresh)
        )
    if res.rowcount != 1:
        raise JobStateError(f"job {job_id} is {_state_now(engine, job_id, conn)}: only dead, dropped or queued jobs "
                            "can be retried")
    return job


def drop_job(engine: Engine, job_id: int, clock: Callable[[], float],
             conn: Connection | None = None) -> dict[str, Any]:
    """Set a dead or queued job aside (status `dropped`); returns the job as it was."""
    job = get_job(engine, job_id, conn)
    t = clock()
    with _in(engine, conn) as c:
        res = c.execute(
            update(jobs).where(jobs.c.id == job_id, jobs.c.status.in_(DROPPABLE))
            .values(status="dropped", lease_until=None, updated_at=t)
        )
    if res.rowcount != 1:
        raise JobStateError(f"job {job_id} is {_state_now(engine, job_id, conn)}: only dead or queued jobs "
                            "can be dropped")
    return job


@contextmanager
def _in(engine: Engine, conn: Connection | None) -> Iterator[Connection]:
    """`conn` when given (its caller commits), else a transaction of its own."""
    if conn is not None:
        yield conn
        return
    with engine.begin() as c:
        yield c


def _state_now(engine: Engine, job_id: int, conn: Connection | None) -> str:
    return str(get_job(engine, job_id, conn)["status"])
