"""The account health page: for each of the tenant's accounts, its helpdesk, OAuth state (a "needs
re-auth" banner when the grant is gone), circuit breaker, last webhook received, last decision,
drafts waiting, kill switches tripped and its jobs (queued, dead letters) — read from the store,
never from another tenant's rows.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from deskhand.api.auth import tenant_account_names
from deskhand.api.jobs import tenant_depth
from deskhand.console.oauth import allow_oauth_redirect
from deskhand.console.pages import base
from deskhand.console.web import page, rt_of
from deskhand.responder import review
from deskhand.responder.switches import list_switches
from deskhand.store import schema as t

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/accounts")
def accounts(request: Request) -> Response:
    ctx = base(request)
    rt, user = rt_of(request), ctx["user"]
    names = tenant_account_names(rt, user.tenant_id)
    e, d, a = t.events.c, t.decisions.c, t.accounts.c
    with rt.store.engine.connect() as conn:
        providers = dict(conn.execute(select(a.name, a.provider).where(a.tenant_id == user.tenant_id)).all())
        last_event = dict(conn.execute(select(e.account, func.max(e.received_at)).where(
            e.tenant_id == user.tenant_id).group_by(e.account)).all())
        last_decision = dict(conn.execute(select(d.account, func.max(d.created_at)).where(
            d.tenant_id == user.tenant_id).group_by(d.account)).all())
    waiting: dict[str, int] = {}
    for row in review.pending(rt, user.tenant_id, limit=10_000):
        waiting[row["account"]] = waiting.get(row["account"], 0) + 1
    oauth = rt.oauth_tokens.statuses()
    breakers = {b["account"]: b for b in rt.breakers.all()}
    switches: dict[str, int] = {}
    for s in list_switches(rt.store):
        if s.get("account") in names:
            switches[s["account"]] = switches.get(s["account"], 0) + 1
    depth = tenant_depth(rt, user.tenant_id)["accounts"]
    rows: list[dict[str, Any]] = [{
        "name": n, "provider": providers.get(n, ""), "oauth": oauth.get(n), "breaker": breakers.get(n),
        "last_event": last_event.get(n), "last_decision": last_decision.get(n), "waiting": waiting.get(n, 0),
        "switches": switches.get(n, 0), "jobs": depth.get(n, {})} for n in names]
    return allow_oauth_redirect(page(request, "accounts.html", rows=rows, **ctx))
