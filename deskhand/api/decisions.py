"""GET /v1/decisions (filtered, cursor pages, bounded) and GET /v1/decisions/{id}: the caller's
tenant's decisions only (replaces the unauthenticated /api/decisions)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import select

from deskhand.api.auth import require, runtime
from deskhand.api.keys import Principal
from deskhand.api.models import Decision, DecisionAction, Page
from deskhand.api.paging import Timestamp, int_cursor, parse_time
from deskhand.api.problems import PROBLEMS, not_found
from deskhand.runtime import Runtime
from deskhand.store import schema as t

router = APIRouter(prefix="/v1/decisions", tags=["decisions"], responses=PROBLEMS)
Reader = Annotated[Principal, Depends(require("decisions:read"))]
Rt = Annotated[Runtime, Depends(runtime)]
MAX_LIMIT = 200


def _decision(row: Any) -> Decision:
    d = dict(row._mapping)
    d.pop("tenant_id", None)
    return Decision(**d)


@router.get("", response_model=Page[Decision], summary="List decisions, newest first")
def list_decisions(
    who: Reader,
    rt: Rt,
    account: str | None = None,
    ticket_id: Annotated[str | None, Query(max_length=64)] = None,
    route: Annotated[str | None, Query(max_length=16)] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    created_after: Timestamp = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> Page[Decision]:
    c = t.decisions.c
    q = select(t.decisions).where(c.tenant_id == who.tenant_id).order_by(c.id.desc()).limit(limit + 1)
    for column, value in ((c.account, account), (c.ticket_id, ticket_id), (c.route, route), (c.category, category)):
        if value is not None:
            q = q.where(column == value)
    if created_after is not None:
        q = q.where(c.created_at > parse_time(created_after))
    if cursor is not None:
        q = q.where(c.id < int_cursor(cursor))
    with rt.store.engine.connect() as conn:
        rows = conn.execute(q).all()
    page = [_decision(r) for r in rows[:limit]]
    more = len(rows) > limit
    return Page[Decision](data=page, next_cursor=str(page[-1].id) if more and page else None)


@router.get("/{decision_id}", response_model=Decision, summary="One decision with its evidence and actions")
def get_decision(who: Reader, rt: Rt, decision_id: Annotated[int, Path(ge=1, le=2**62)]) -> Decision:
    q = select(t.decisions).where(t.decisions.c.id == decision_id, t.decisions.c.tenant_id == who.tenant_id)
    with rt.store.engine.connect() as conn:
        row = conn.execute(q).first()
    if row is None:
        raise not_found(f"decision {decision_id}")
    decision = _decision(row)
    decision.actions = [
        DecisionAction(kind=a.kind, status=a.status, key=a.key, result=a.result, error=a.error)
        for a in rt.store.actions_for(decision_id)
    ]
    return decision
