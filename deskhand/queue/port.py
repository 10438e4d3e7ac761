"""The queue port: durable jobs with dedupe keys, leases, retries with backoff and a dead letter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection

# Priority lanes: lower runs first. Write-back before interactive work before backfill.
PRIORITY_WRITE = 10
PRIORITY_EVENT = 20
PRIORITY_BACKFILL = 50


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int  # including the current one
    max_attempts: int
    dedupe_key: str | None = None


class Queue(Protocol):
    def enqueue(
        self,
        conn: Connection | None,
        kind: str,
        payload: dict[str, Any],
        *,
        dedupe_key: str | None = None,
        priority: int = PRIORITY_EVENT,
        run_at: float | None = None,
        max_attempts: int = ...,
    ) -> int | None:
        """Add a job (in `conn`'s transaction when given). None when the dedupe key exists.
        `max_attempts` defaults to enough attempts for retries spanning a day (queue.sql)."""
        ...

    def claim(self, owner: str, *, lease_s: float = 60.0) -> Job | None:
        """Take the next runnable job (queued and due, or running with an expired lease)."""
        ...

    def ack(self, job: Job, owner: str) -> bool:
        """Mark done. False when the lease was lost (another worker owns it now)."""
        ...

    def retry(
        self, job: Job, owner: str, error: str, *, delay_s: float | None = None, final: bool = False
    ) -> str:
        """Re-queue after a failure (backoff, or `delay_s`), or dead-letter it (after the last
        attempt, or at once when `final`); returns the new status."""
        ...

    def defer(self, job: Job, owner: str, run_at: float, reason: str) -> None:
        """Put a job back for later without counting an attempt (e.g. a quota that resets later)."""
        ...

    def extend(self, job: Job, owner: str, lease_s: float) -> bool: ...

    def counts(self) -> dict[str, int]: ...
