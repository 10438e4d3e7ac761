"""What /healthz reports about the work in flight: ok, or degraded with the reasons.

Degraded (still HTTP 200: the process answers and accepts webhooks) when
- a helpdesk is unreachable: an account's circuit breaker is open or probing;
- dead jobs wait for a person (`deskhand jobs list --state dead`, then `jobs retry|drop`);
- the queue lags: the oldest job that is due has waited more than LAG_DEGRADED_S to start.
Only a store that cannot be read makes /healthz answer 503 (the gateway's own check). The report
names no account (health checks need no credentials); `deskhand jobs breakers` shows which.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from deskhand.queue.breaker import Breakers
from deskhand.queue.sql import SqlQueue
from deskhand.store.schema import jobs

LAG_DEGRADED_S = 120.0


def queue_lag_s(queue: SqlQueue) -> float:
    """Seconds the oldest due, unclaimed job has waited (0 when none waits)."""
    now = queue.clock()
    q = select(func.min(jobs.c.run_at)).where(jobs.c.status == "queued", jobs.c.run_at <= now)
    with queue.engine.connect() as c:
        oldest = c.execute(q).scalar()
    return max(0.0, now - float(oldest)) if oldest is not None else 0.0


def report(queue: SqlQueue, breakers: Breakers) -> dict[str, Any]:
    counts = queue.counts()
    lag = queue_lag_s(queue)
    tripped = breakers.tripped()
    reasons = []
    if tripped:
        now = queue.clock()
        since = max(now - float(b["opened_at"] or now) for b in tripped)
        reasons.append(f"helpdesk unreachable for {len(tripped)} account(s): circuit breaker open "
                       f"(longest for {since:.0f} s); their jobs wait for it to close")
    if counts.get("dead"):
        reasons.append(f"{counts['dead']} dead job(s): see `deskhand jobs list --state dead`, then retry or drop")
    if lag > LAG_DEGRADED_S:
        reasons.append(f"queue lag {lag:.0f} s (oldest due job waiting; more than {LAG_DEGRADED_S:.0f} s)")
    return {
        "status": "degraded" if reasons else "ok",
        "reasons": reasons,
        "jobs": counts,
        "queue_lag_s": round(lag, 1),
        "open_breakers": len(tripped),
    }
