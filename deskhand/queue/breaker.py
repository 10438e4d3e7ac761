"""A circuit breaker per helpdesk account, kept in the store so every worker process agrees.

closed ──(THRESHOLD consecutive helpdesk failures: 5xx, timeouts, connection errors)──▶ open
open ──(its cooldown passed: one job claims the probe)──▶ half_open
half_open ──(the probe reached the helpdesk)──▶ closed   (jobs waiting on it are made due now)
half_open ──(the probe failed)──▶ open, with a longer cooldown (30 s, 1, 2, 4, 8, 15, then 30 min)

While the breaker is open, a job of that account is deferred to the next probe time without
counting an attempt (`Queue.defer`), so an outage of hours spends no job's retries. Every change
is one conditional UPDATE (compare-and-set in SQL), never a read-then-write: two workers seeing
the probe due at once both try `UPDATE … WHERE state IN ('open','half_open') AND probe_at <= now`
and only one row update succeeds. Times are the queue's clock (injectable).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, case, func, literal, or_, select, update

from deskhand.errors import ProviderError
from deskhand.queue.port import Job
from deskhand.store.db import insert_or_skip
from deskhand.store.schema import decisions, events, jobs
from deskhand.store.tables_ops import breakers

log = logging.getLogger(__name__)
THRESHOLD = 5  # consecutive helpdesk failures that open the breaker
COOLDOWNS_S = (30.0, 60.0, 120.0, 240.0, 480.0, 900.0, 1800.0)  # to the next probe, by trips so far
PROBE_LEASE_S = 120.0  # a probe that neither succeeds nor fails in this time (crashed) lets another try
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


def helpdesk_down(exc: BaseException) -> bool:
    """Whether an error says the helpdesk is unreachable or failing (not: it refused this request)."""
    from deskhand.providers.client import ConnectionFailed

    if isinstance(exc, ConnectionFailed):
        return True
    return isinstance(exc, ProviderError) and exc.status is not None and exc.status >= 500


def helpdesk_answered(exc: BaseException) -> bool:
    """An HTTP answer below 500 (404, 422, 429 …): the helpdesk is up, whatever it thought of us."""
    return isinstance(exc, ProviderError) and exc.status is not None and exc.status < 500


def defer_marker(account: str) -> str:
    """How the reason of a job deferred on this account's breaker starts (`Queue.defer` stores it
    as last_error "deferred: <reason>"; `success` finds the waiting jobs by it)."""
    return f"breaker {account}: "


@dataclass(frozen=True, slots=True)
class Admission:
    account: str
    run: bool  # False: defer the job to `wait_until`
    probe: bool = False  # this job is the half-open probe
    dirty: bool = False  # the breaker has failures to clear once a call succeeds
    wait_until: float | None = None
    reason: str = ""


class Breakers:
    def __init__(self, engine: Engine, *, clock: Callable[[], float], threshold: int = THRESHOLD,
                 cooldowns: tuple[float, ...] = COOLDOWNS_S, probe_lease_s: float = PROBE_LEASE_S) -> None:
        self.engine, self.clock, self.threshold = engine, clock, threshold
        self.cooldowns, self.probe_lease_s = cooldowns, probe_lease_s

    # -- reading ----------------------------------------------------------------------------
    def get(self, account: str) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(select(breakers).where(breakers.c.account == account)).first()
        return dict(row._mapping) if row else None

    def tripped(self) -> list[dict[str, Any]]:
        """Breakers that are open or probing, for /healthz and `deskhand jobs breakers`."""
        q = select(breakers).where(breakers.c.state != CLOSED).order_by(breakers.c.account)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q).all()]

    def all(self) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(select(breakers).order_by(breakers.c.account)).all()]

    # -- a job's turn -------------------------------------------------------------------------
    def admit_job(self, job: Job) -> Admission | None:
        """Whether the job may call its account's helpdesk now (None: the job has no account)."""
        found = self._account_and_breaker(job)
        if found is None:
            return None
        account, row = found
        return self.admit(account, row)

    def admit(self, account: str, row: dict[str, Any] | str | None = "read") -> Admission:
        """`row`: the breaker as the caller read it (None: it has none); by default it is read here."""
        if isinstance(row, str):
            row = self.get(account)
        if row is None or row["state"] == CLOSED:
            return Admission(account, True, dirty=bool(row and row["failures"]))
        now = self.clock()
        if row["probe_at"] is not None and row["probe_at"] > now:
            return self._wait(account, row)
        b = breakers.c
        with self.engine.begin() as c:  # whoever updates the row first is the probe
            res = c.execute(update(breakers).where(
                b.account == account, b.state.in_((OPEN, HALF_OPEN)), b.probe_at <= now
            ).values(state=HALF_OPEN, probe_at=now + self.probe_lease_s, updated_at=now))
        if res.rowcount == 1:
            log.info("breaker account=%s half-open: probing the helpdesk", account)
            return Admission(account, True, probe=True, dirty=True)
        again = self.get(account)
        if again is None or again["state"] == CLOSED:
            return Admission(account, True, dirty=bool(again and again["failures"]))
        return self._wait(account, again)

    def _wait(self, account: str, row: dict[str, Any]) -> Admission:
        until = float(row["probe_at"] or self.clock() + self.probe_lease_s)
        why = f"helpdesk unreachable ({row['failures']} failures in a row, last: {(row['last_error'] or '')[:200]})"
        return Admission(account, False, wait_until=until, reason=defer_marker(account) + why)

    # -- outcomes of a call -------------------------------------------------------------------
    def failure(self, account: str, error: str) -> str:
        """Count a helpdesk failure; opens (or re-opens, after a failed probe) the breaker. Returns its state."""
        now = self.clock()
        b = breakers.c
        with self.engine.begin() as c:
            c.execute(insert_or_skip(c, breakers, "account"), {
                "account": account, "state": CLOSED, "failures": 0, "trips": 0, "opened_at": None,
                "probe_at": None, "last_error": None, "updated_at": now,
            })
            trips = or_(b.state == HALF_OPEN, and_(b.state == CLOSED, b.failures + 1 >= self.threshold))
            cooldown = case(*[(b.trips == i, literal(s)) for i, s in enumerate(self.cooldowns)],
                            else_=literal(self.cooldowns[-1]))
            row = c.execute(update(breakers).where(b.account == account).values(
                failures=b.failures + 1,
                last_error=error[:2000],
                updated_at=now,
                state=case((trips, literal(OPEN)), else_=b.state),
                trips=case((trips, b.trips + 1), else_=b.trips),
                opened_at=case((and_(trips, b.state == CLOSED), literal(now)), else_=b.opened_at),
                probe_at=case((trips, now + cooldown), else_=b.probe_at),
            ).returning(b.state, b.failures, b.trips, b.probe_at)).one()
        if row.state == OPEN and row.probe_at == now + self.cooldowns[min(row.trips, len(self.cooldowns)) - 1]:
            log.warning("breaker account=%s open after %d failures: next probe in %.0f s (%s)", account,
                        row.failures, row.probe_at - now, error[:200])
        return str(row.state)

    def success(self, account: str) -> bool:
        """The helpdesk answered: close the breaker and make the jobs that waited on it due now.
        Returns whether anything changed."""
        now = self.clock()
        b = breakers.c
        with self.engine.begin() as c:
            res = c.execute(update(breakers).where(
                b.account == account, or_(b.state != CLOSED, b.failures > 0)
            ).values(state=CLOSED, failures=0, trips=0, opened_at=None, probe_at=None, updated_at=now))
            if res.rowcount != 1:
                return False
            marker = "deferred: " + defer_marker(account)
            released = c.execute(update(jobs).where(
                jobs.c.status == "queued", jobs.c.run_at > now,
                func.substr(jobs.c.last_error, 1, len(marker)) == marker,
            ).values(run_at=now, updated_at=now)).rowcount
        log.info("breaker account=%s closed: the helpdesk answers again; %d waiting jobs due now", account, released)
        return True

    # -- which account a job is for -------------------------------------------------------------
    def _account_and_breaker(self, job: Job) -> tuple[str, dict[str, Any] | None] | None:
        if job.kind == "handle_event" and "event_id" in job.payload:
            src, key = events, int(job.payload["event_id"])
        elif job.kind == "apply_decision" and "decision_id" in job.payload:
            src, key = decisions, int(job.payload["decision_id"])
        else:
            return None
        state = [col for col in breakers.c if col.name != "account"]
        q = (select(src.c.account, *state).select_from(src.outerjoin(breakers, breakers.c.account == src.c.account))
             .where(src.c.id == key))
        with self.engine.connect() as c:
            row = c.execute(q).first()
        if row is None:
            return None
        m = dict(row._mapping)
        account = str(m.pop("account"))
        return account, (m if m.get("state") is not None else None)

