"""The decisions pages: every decision of the tenant (filtered by account, route, category, ticket),
and one decision on one page — "why did it answer this ticket?": triage, reasons and rules, sources
with scores, the guardrails' verdicts, the actions performed and the outcome ledger's entry.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from deskhand.api.auth import tenant_account_names
from deskhand.console.pages import base
from deskhand.console.web import ConsoleError, page, rt_of
from deskhand.model import Route
from deskhand.store import schema as t
from deskhand.store.tables_autonomy import outcomes

router = APIRouter(prefix="/console", include_in_schema=False)
ROUTES = tuple(r.value for r in Route)
LIMIT = 200


@router.get("/decisions")
def decisions(request: Request, account: str = "", route: str = "", category: str = "", ticket: str = "") -> Response:
    ctx = base(request)
    rt, user = rt_of(request), ctx["user"]
    accounts = tenant_account_names(rt, user.tenant_id)
    c = t.decisions.c
    q = select(c.id, c.account, c.ticket_id, c.route, c.category, c.urgency, c.confidence, c.created_at).where(
        c.tenant_id == user.tenant_id).order_by(c.id.desc()).limit(LIMIT)
    for column, value in ((c.account, account), (c.route, route), (c.category, category), (c.ticket_id, ticket)):
        if value:
            q = q.where(column == value[:64])
    with rt.store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q).all()]
    return page(request, "decisions.html", rows=rows, accounts=accounts, account=account, route=route,
                routes=ROUTES, category=category, ticket=ticket, limit=LIMIT, **ctx)


@router.get("/decisions/{decision_id}")
def decision(request: Request, decision_id: int) -> Response:
    ctx = base(request)
    rt, user = rt_of(request), ctx["user"]
    c = t.decisions.c
    with rt.store.engine.connect() as conn:
        row = conn.execute(select(t.decisions).where(c.id == decision_id, c.tenant_id == user.tenant_id)).first()
        ledger = conn.execute(select(outcomes).where(outcomes.c.decision_id == decision_id)).first()
    if row is None:
        raise ConsoleError(404, f"no decision {decision_id} in your tenant")
    d = dict(row._mapping)
    return page(request, "decision.html", d=d, evidence=d.get("evidence") or {},
                actions=rt.store.actions_for(decision_id), ledger=dict(ledger._mapping) if ledger else None, **ctx)
