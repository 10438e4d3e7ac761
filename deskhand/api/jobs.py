"""GET /v1/jobs, POST /v1/jobs/{id}/retry|drop: the durable queue's jobs and dead letters, for an
admin key, limited to its tenant's jobs (the same operations as `deskhand jobs list|retry|drop`).

A job's tenant is that of the event (``handle_event``) or decision (``apply_decision``) it works on;
jobs of no tenant (none today) are visible to the CLI only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel
from sqlalchemy import select

from deskhand.api.auth import require, runtime
from deskhand.api.keys import Principal
from deskhand.api.problems import PROBLEMS, ApiProblem, not_found
from deskhand.errors import DeskhandError, NotFoundError
from deskhand.queue.letters import STATES, JobStateError, drop_job, get_job, list_jobs, retry_job
from deskhand.runtime import Runtime
from deskhand.store import schema as t

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=PROBLEMS)
Admin = Annotated[Principal, Depends(require("admin"))]
Rt = Annotated[Runtime, Depends(runtime)]
MAX_LIMIT = 200
SCAN = 2000  # rows read to find a tenant's jobs among everyone's, newest first
OPEN_STATES = ("queued", "running", "dead", "dropped")
DEPTH_SCAN = 20_000  # jobs of one state read to count a tenant's queue depth
CHUNK = 1000  # ids per IN (…) when looking up the events and decisions jobs name


class Job(BaseModel):
    id: int
    kind: str
    state: str
    attempts: int
    max_attempts: int
    run_at: datetime | None
    last_error: str | None
    payload: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class JobList(BaseModel):
    data: list[Job]
    counts: dict[str, int]


def _when(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _job(row: dict[str, Any]) -> Job:
    return Job(id=row["id"], kind=row["kind"], state=row["status"], attempts=row["attempts"],
               max_attempts=row["max_attempts"], run_at=_when(row["run_at"]) if row["status"] == "queued" else None,
               last_error=(row["last_error"] or None), payload=dict(row["payload"] or {}),
               created_at=_when(row["created_at"]) or datetime.now(UTC),
               updated_at=_when(row["updated_at"]) or datetime.now(UTC))


def job_owners(rt: Runtime, rows: list[dict[str, Any]]) -> dict[int, tuple[str, str]]:
    """Job id → (tenant id, account), through the event or decision each job names (read in chunks)."""
    events = sorted({int(r["payload"]["event_id"]) for r in rows if "event_id" in (r["payload"] or {})})
    decisions = sorted({int(r["payload"]["decision_id"]) for r in rows if "decision_id" in (r["payload"] or {})})
    of_event: dict[int, tuple[str, str]] = {}
    of_decision: dict[int, tuple[str, str]] = {}
    with rt.store.engine.connect() as conn:
        for table, ids, found in ((t.events, events, of_event), (t.decisions, decisions, of_decision)):
            for i in range(0, len(ids), CHUNK):
                q = select(table.c.id, table.c.tenant_id, table.c.account).where(table.c.id.in_(ids[i:i + CHUNK]))
                found.update({int(r.id): (str(r.tenant_id), str(r.account)) for r in conn.execute(q).all()})
    out = {}
    for r in rows:
        payload = r["payload"] or {}
        owner = (of_event.get(int(payload["event_id"])) if "event_id" in payload
                 else of_decision.get(int(payload["decision_id"])) if "decision_id" in payload else None)
        if owner is not None:
            out[int(r["id"])] = owner
    return out


def job_tenants(rt: Runtime, rows: list[dict[str, Any]]) -> dict[int, str]:
    """Job id → tenant id, through the event or decision each job names."""
    return {job_id: tenant for job_id, (tenant, _) in job_owners(rt, rows).items()}


def tenant_job(rt: Runtime, tenant_id: str, job_id: int) -> dict[str, Any] | None:
    """The job if it works for `tenant_id`; None when it does not exist or is another tenant's."""
    try:
        row = get_job(rt.store.engine, job_id)
    except NotFoundError:
        return None
    return row if job_tenants(rt, [row]).get(job_id) == tenant_id else None


def tenant_jobs(rt: Runtime, tenant_id: str, *, state: str | None = None, kind: str | None = None
                ) -> list[dict[str, Any]]:
    """The tenant's jobs among the newest SCAN (of that state and kind), newest first."""
    rows = list_jobs(rt.store.engine, state=state, kind=kind, limit=SCAN)
    owners = job_tenants(rt, rows)
    return [r for r in rows if owners.get(int(r["id"])) == tenant_id]


def tenant_depth(rt: Runtime, tenant_id: str) -> dict[str, Any]:
    """The tenant's share of the queue: jobs by state (done ones excepted: they are history), the same
    per account, and how long its oldest due job has waited (seconds)."""
    read = {state: list_jobs(rt.store.engine, state=state, limit=DEPTH_SCAN) for state in OPEN_STATES}
    rows = [r for state_rows in read.values() for r in state_rows]
    owners = job_owners(rt, rows)
    mine = [r for r in rows if owners.get(int(r["id"]), ("", ""))[0] == tenant_id]
    counts = {state: sum(1 for r in mine if r["status"] == state) for state in OPEN_STATES}
    per_account: dict[str, dict[str, int]] = {}
    for r in mine:
        account = owners[int(r["id"])][1]
        per_account.setdefault(account, dict.fromkeys(OPEN_STATES, 0))[r["status"]] += 1
    now = rt.queue.clock()
    due = [float(r["run_at"]) for r in mine if r["status"] == "queued" and float(r["run_at"]) <= now]
    return {"counts": counts, "accounts": per_account, "lag_s": round(max(0.0, now - min(due)), 1) if due else 0.0,
            "truncated": any(len(state_rows) >= DEPTH_SCAN for state_rows in read.values())}


def _own(rt: Runtime, who: Principal, job_id: int) -> dict[str, Any]:
    row = tenant_job(rt, who.tenant_id, job_id)
    if row is None:
        raise not_found(f"job {job_id}")
    return row


@router.get("", response_model=JobList, summary="Jobs of this tenant, newest first (dead letters: state=dead)")
def list_tenant_jobs(
    who: Admin,
    rt: Rt,
    state: Annotated[str | None, Query(max_length=16, description=f"one of {', '.join(STATES)}")] = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> JobList:
    if state is not None and state not in STATES:
        raise ApiProblem(422, "invalid_state", f"unknown job state {state!r}: use one of {', '.join(STATES)}")
    mine = tenant_jobs(rt, who.tenant_id, state=state, kind=kind)
    counts: dict[str, int] = {}
    for r in mine:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return JobList(data=[_job(r) for r in mine[:limit]], counts=counts)


def _act(rt: Runtime, who: Principal, job_id: int, verb: str) -> Job:
    _own(rt, who, job_id)
    try:
        action = retry_job if verb == "retry" else drop_job
        action(rt.store.engine, job_id, rt.queue.clock)
    except JobStateError as exc:
        raise ApiProblem(409, "job_state", str(exc)) from exc
    except DeskhandError as exc:
        raise ApiProblem(422, "job", str(exc)) from exc
    return _job(get_job(rt.store.engine, job_id))


@router.post("/{job_id}/retry", response_model=Job, summary="Queue a dead, dropped or waiting job again, due now")
def retry_tenant_job(who: Admin, rt: Rt, job_id: Annotated[int, Path(ge=1, le=2**62)]) -> Job:
    return _act(rt, who, job_id, "retry")


@router.post("/{job_id}/drop", response_model=Job, summary="Set a dead or queued job aside (kept, retryable)")
def drop_tenant_job(who: Admin, rt: Rt, job_id: Annotated[int, Path(ge=1, le=2**62)]) -> Job:
    return _act(rt, who, job_id, "drop")
