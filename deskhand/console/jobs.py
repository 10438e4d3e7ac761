"""The jobs page: the tenant's share of the durable queue (queued, running, dead, dropped; the oldest
due job's wait) and its jobs by state — dead letters first, with their last error — and, for
admins, retry (back in the queue, due now, fresh attempts) or drop (set aside, kept, retryable) with
an audit row. The same functions as `GET/POST /v1/jobs` and `deskhand jobs retry|drop`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from deskhand import audit
from deskhand.api.jobs import OPEN_STATES, tenant_depth, tenant_job, tenant_jobs
from deskhand.console.pages import base
from deskhand.console.web import ConsoleError, Form, csrf_checked, login, need, page, redirect, rt_of
from deskhand.errors import DeskhandError
from deskhand.queue.letters import STATES, drop_job, retry_job

router = APIRouter(prefix="/console", include_in_schema=False)
SHOWN = 200


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts is not None else ""


@router.get("/jobs")
def jobs(request: Request, state: str = "dead", error: str = "", status: int = 200) -> Response:
    ctx = base(request)
    rt, user = rt_of(request), ctx["user"]
    state = state if state in STATES else "dead"
    rows = [{**r, "created": _when(r["created_at"]), "updated": _when(r["updated_at"])}
            for r in tenant_jobs(rt, user.tenant_id, state=state)[:SHOWN]]
    return page(request, "jobs.html", status, depth=tenant_depth(rt, user.tenant_id), rows=rows, state=state,
                states=STATES, open_states=OPEN_STATES, error=error, shown=SHOWN, **ctx)


@router.post("/jobs/{job_id}/{verb}")
def act(request: Request, job_id: int, verb: str, posted: Form) -> Response:
    user, session = login(request)
    fields = csrf_checked(request, posted, session)
    need(user, "admin")
    if verb not in ("retry", "drop"):
        raise ConsoleError(404, f"no job action {verb!r}: retry or drop")
    rt, actor = rt_of(request), f"console:{user.username}"
    job = tenant_job(rt, user.tenant_id, job_id)
    back = fields.get("state", "dead") if fields.get("state") in STATES else "dead"
    if job is None:
        raise ConsoleError(404, f"no job {job_id} in your tenant")
    reason = fields.get("reason", "").strip()[:500]
    if verb == "drop" and not reason:
        return jobs(request, back, error="dropping a job needs a reason (it goes into the audit log)", status=400)
    try:
        with rt.store.transaction() as conn:
            (retry_job if verb == "retry" else drop_job)(rt.store.engine, job_id, rt.queue.clock, conn=conn)
            audit.record(conn, tenant_id=user.tenant_id, actor=actor, action=f"job.{verb}",
                         target=f"job {job_id} ({job['kind']})", old=job["status"],
                         new="queued" if verb == "retry" else "dropped", reason=reason or None)
    except DeskhandError as exc:
        return jobs(request, back, error=str(exc), status=409)
    return redirect(f"/console/jobs?state={back}")
