"""The review queue over HTTP: GET /v1/review (drafts waiting), GET /v1/review/{id} (with evidence),
POST …/approve (post as the public reply, once; optionally edited), POST …/reject (with a reason).
The logic lives in deskhand.responder.review; this is one of its clients (the CLI is another)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query

from deskhand.api import live
from deskhand.api import models as m
from deskhand.api.auth import account_of, require, runtime
from deskhand.api.keys import Principal
from deskhand.api.paging import int_cursor
from deskhand.api.problems import PROBLEMS, ApiProblem, not_found
from deskhand.api.tickets import Live
from deskhand.errors import NotFoundError
from deskhand.responder import review
from deskhand.runtime import Runtime

router = APIRouter(prefix="/v1/review", tags=["review"], responses=PROBLEMS)
Reader = Annotated[Principal, Depends(require("decisions:read"))]
Reviewer = Annotated[Principal, Depends(require("review:write"))]
Rt = Annotated[Runtime, Depends(runtime)]
DecisionId = Annotated[int, Path(ge=1, le=2**62)]


def draft(row: dict[str, Any]) -> m.Draft:
    evidence = row.get("evidence") or {}
    verdict = row.get("verdict")
    return m.Draft(
        decision_id=row["id"], account=row["account"], ticket_id=live.unified_id(row["account"], row["ticket_id"]),
        remote_ticket_id=row["ticket_id"], subject=evidence.get("ticket_subject"), reply=row["reply"] or "",
        category=row["category"], urgency=row["urgency"], confidence=row["confidence"],
        reasons=list(row["reasons"] or []), rules=list(row["rules"] or []), sources=list(evidence.get("sources", [])),
        triage_scores=dict(evidence.get("triage_scores", {})), guardrails=evidence.get("guardrails"),
        outcome=row.get("outcome"), verdict=_verdict_of(verdict) if verdict else None, created_at=row["created_at"],
    )


def _verdict_of(v: Any) -> m.ReviewVerdict:
    get = v.get if isinstance(v, dict) else lambda k: getattr(v, k)
    return m.ReviewVerdict(decision_id=get("decision_id"), verdict=get("verdict"), body=get("body"),
                           edit_distance=get("edit_distance"), reason=get("reason"), reviewer=get("reviewer"),
                           result=get("result"))


def _show(rt: Runtime, who: Principal, decision_id: int) -> dict[str, Any]:
    try:
        return review.show(rt, who.tenant_id, decision_id)
    except NotFoundError as exc:
        raise not_found(f"draft {decision_id}") from exc


@router.get("", response_model=m.Page[m.Draft], summary="Drafts waiting for a human, newest first")
def list_drafts(who: Reader, rt: Rt, account: Annotated[str | None, Query(max_length=64)] = None,
                limit: Annotated[int, Query(ge=1, le=100)] = 50,
                cursor: Annotated[str | None, Query(max_length=40)] = None) -> m.Page[m.Draft]:
    if account:
        account_of(rt, who, account)
    rows = review.pending(rt, who.tenant_id, account=account, limit=limit + 1,
                          before=int_cursor(cursor) if cursor else None)
    page = [draft(r) for r in rows[:limit]]
    return m.Page[m.Draft](data=page, next_cursor=str(page[-1].decision_id) if len(rows) > limit else None)


@router.get("/{decision_id}", response_model=m.Draft, summary="One draft with its evidence and verdict")
def get_draft(who: Reader, rt: Rt, decision_id: DecisionId) -> m.Draft:
    return draft(_show(rt, who, decision_id))


@router.post("/{decision_id}/approve", response_model=m.ReviewVerdict,
             summary="Post the draft (or an edit of it) as the public reply, once")
def approve(who: Reviewer, rt: Rt, lc: Live, decision_id: DecisionId,
            body: Annotated[m.Approval | None, Body()] = None) -> m.ReviewVerdict:
    row = _show(rt, who, decision_id)
    account = account_of(rt, who, row["account"])
    try:
        v = review.approve(rt, who.tenant_id, decision_id, reviewer=f"key:{who.key_id}",
                           body=body.body if body else None, connector=lc.get(account))
    except review.ReviewConflict as exc:
        raise ApiProblem(409, "review_conflict", str(exc)) from exc
    return _verdict_of(_as_dict(v))


@router.post("/{decision_id}/reject", response_model=m.ReviewVerdict, summary="Reject the draft, with a reason")
def reject(who: Reviewer, rt: Rt, decision_id: DecisionId, body: Annotated[m.Rejection, Body()]) -> m.ReviewVerdict:
    _show(rt, who, decision_id)
    try:
        v = review.reject(rt, who.tenant_id, decision_id, reviewer=f"key:{who.key_id}", reason=body.reason)
    except review.ReviewConflict as exc:
        raise ApiProblem(409, "review_conflict", str(exc)) from exc
    return _verdict_of(_as_dict(v))


def _as_dict(v: review.Verdict) -> dict[str, Any]:
    return {f: getattr(v, f) for f in ("decision_id", "verdict", "body", "edit_distance", "reason", "reviewer",
                                       "result")}
