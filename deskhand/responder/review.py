"""The review queue: drafts waiting for a human, and the human's verdict on each.

A draft is a decision routed `draft` with a proposed reply, whose ledger entry is still pending and
that has no verdict yet — for every provider (the queue reads decisions, not the helpdesk's internal
notes, so a helpdesk without internal comments has the same queue). A reviewer:
- approves it (optionally edited): the reply is posted as the public reply through the connector,
  once (an action row keyed `review:<decision>:reply`, performed with the same compare-and-set and
  crash reconciliation as every other action), and the ledger settles the draft by the edit distance
  between draft and what was posted (accepted ≤ 0.15 < edited ≤ 0.5 < discarded);
- rejects it with a reason: nothing is posted and the ledger settles it `rejected`.
The API (deskhand.api.review) and the CLI (`deskhand review`) are clients of these functions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update

from deskhand import outbound
from deskhand.errors import DeskhandError, NotFoundError
from deskhand.model import Action, ActionKind, Route
from deskhand.providers import Connector
from deskhand.responder.effects import INTERRUPTED, _already_posted
from deskhand.responder.outcomes import ACCEPTED_MAX, EDITED_MAX, PENDING, edit_distance
from deskhand.runtime import Runtime
from deskhand.store import schema as t
from deskhand.store.db import insert_or_skip
from deskhand.store.store import now
from deskhand.store.tables_api import reviews
from deskhand.store.tables_autonomy import outcomes

log = logging.getLogger(__name__)


class ReviewConflict(DeskhandError):
    """The draft already has another verdict, or is being approved right now."""


@dataclass(frozen=True, slots=True)
class Verdict:
    decision_id: int
    verdict: str
    body: str | None
    edit_distance: float | None
    reason: str | None
    reviewer: str
    result: dict[str, Any] | None
    replayed: bool = False  # this verdict was given before (an idempotent repeat)


def _waiting(tenant_id: str | None) -> Any:
    d, o = t.decisions.c, outcomes.c
    q = (select(t.decisions, o.outcome, o.mode)
         .select_from(t.decisions.outerjoin(outcomes, o.decision_id == d.id).outerjoin(
             reviews, reviews.c.decision_id == d.id))
         .where(d.route == Route.DRAFT.value, d.reply.is_not(None), reviews.c.decision_id.is_(None),
                or_(o.outcome.is_(None), o.outcome == PENDING)))
    return q.where(d.tenant_id == tenant_id) if tenant_id is not None else q


def pending(rt: Runtime, tenant_id: str | None, *, account: str | None = None, limit: int = 50,
            before: int | None = None, oldest_first: bool = False, category: str | None = None
            ) -> list[dict[str, Any]]:
    """Drafts waiting for a verdict, newest first (`before`: a decision id, for the next page), or
    oldest first (then `before` is read as "after": the next page of older-to-newer)."""
    d = t.decisions.c
    q = _waiting(tenant_id).order_by(d.id.asc() if oldest_first else d.id.desc()).limit(limit)
    if account:
        q = q.where(t.decisions.c.account == account)
    if category:
        q = q.where(t.decisions.c.category == category)
    if before is not None:
        q = q.where(d.id > before if oldest_first else d.id < before)
    with rt.store.engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(q).all()]


def show(rt: Runtime, tenant_id: str | None, decision_id: int) -> dict[str, Any]:
    """One draft with its evidence (sources, triage, guardrails), its verdict if any. NotFoundError
    when there is no such draft for this tenant."""
    d = t.decisions.c
    q = select(t.decisions).where(d.id == decision_id, d.route == Route.DRAFT.value)
    if tenant_id is not None:
        q = q.where(d.tenant_id == tenant_id)
    with rt.store.engine.connect() as c:
        row = c.execute(q).first()
        verdict = c.execute(select(reviews).where(reviews.c.decision_id == decision_id)).first()
        ledger = c.execute(select(outcomes.c.outcome, outcomes.c.mode).where(
            outcomes.c.decision_id == decision_id)).first()
    if row is None:
        raise NotFoundError(f"no draft {decision_id}: see `deskhand review list`")
    out = dict(row._mapping)
    out["outcome"] = ledger.outcome if ledger else None
    out["verdict"] = dict(verdict._mapping) if verdict else None
    return out


def approve(rt: Runtime, tenant_id: str | None, decision_id: int, *, reviewer: str, body: str | None = None,
            connector: Connector | None = None) -> Verdict:
    """Post the draft (or `body`, its edit) as the public reply, once; settle the ledger by the edit
    distance. Approving again with the same text answers the first verdict; with another text, or
    after a rejection, ReviewConflict."""
    draft = show(rt, tenant_id, decision_id)
    text = (body if body is not None else draft["reply"] or "").strip()
    if not text:
        raise ReviewConflict(f"draft {decision_id} has no reply to approve; give the text to send")
    given = _given(draft, "approved", text)
    if given is not None:
        return given
    account = rt.store.get_account(draft["account"])
    key = f"review:{decision_id}:reply"
    with rt.store.transaction() as c:
        c.execute(insert_or_skip(c, t.actions, "key"), {
            "key": key, "decision_id": decision_id, "account": account.name, "ticket_id": draft["ticket_id"],
            "seq": 1000, "kind": ActionKind.REPLY.value, "params": {"body": text}, "status": "planned"})
    rec = next(a for a in rt.store.actions_for(decision_id) if a.key == key)
    if rec.params.get("body") != text:
        raise ReviewConflict(f"draft {decision_id} is being approved with another text; wait for that verdict")
    conn = connector or rt.connector(account)
    result: dict[str, Any]
    if rec.status == "done":
        result = dict(rec.result or {})
    elif rec.status in ("started", INTERRUPTED) and _already_posted(rt, account, rec):
        result = {"reconciled": True}
        rt.store.mark_action(key, "done", result=result)
    else:
        if not rt.store.start_action(rec):
            raise ReviewConflict(f"draft {decision_id} is being approved right now; retry shortly")
        action = Action(kind=ActionKind.REPLY, ticket_id=rec.ticket_id, key=key, params={"body": text})
        # a failure leaves the action `started`: approving again first looks for the reply on the
        # ticket (it may have landed before the connection broke), then posts it
        result = {k: v for k, v in conn.perform(action).items() if isinstance(v, str | int | float | bool)}
        rt.store.mark_action(key, "done", result=result)
        outbound.action_performed(rt, account.tenant_id, account.name, rec.ticket_id, ActionKind.REPLY.value, key,
                                  result)
    dist = round(edit_distance(draft["reply"] or "", text), 4)
    outcome = "accepted" if dist <= ACCEPTED_MAX else "edited" if dist <= EDITED_MAX else "discarded"
    return _record(rt, draft, Verdict(decision_id, "approved", text, dist, None, reviewer, result), outcome,
                   f"approved in review by {reviewer} at edit distance {dist:.2f}")


def reject(rt: Runtime, tenant_id: str | None, decision_id: int, *, reviewer: str, reason: str) -> Verdict:
    """Reject the draft: nothing is posted; the ledger settles it `rejected` with the reason."""
    draft = show(rt, tenant_id, decision_id)
    if not reason.strip():
        raise ReviewConflict("a rejection needs a reason (what was wrong with the draft)")
    given = _given(draft, "rejected", None)
    if given is not None:
        return given
    return _record(rt, draft, Verdict(decision_id, "rejected", None, None, reason.strip(), reviewer, None),
                   "rejected", f"rejected in review by {reviewer}: {reason.strip()}")


def _given(draft: dict[str, Any], verdict: str, text: str | None) -> Verdict | None:
    """The verdict already given when it is this one (a repeat); ReviewConflict when it is another."""
    old = draft["verdict"]
    if old is None:
        return None
    if old["verdict"] != verdict or (text is not None and old["body"] != text):
        raise ReviewConflict(f"draft {draft['id']} was already {old['verdict']} by {old['reviewer']}")
    return Verdict(draft["id"], old["verdict"], old["body"], old["edit_distance"], old["reason"], old["reviewer"],
                   old["result"], replayed=True)


def _record(rt: Runtime, draft: dict[str, Any], v: Verdict, outcome: str, signal: str) -> Verdict:
    at = now()
    with rt.store.transaction() as c:
        done = c.execute(insert_or_skip(c, reviews, "decision_id", returning=reviews.c.decision_id), {
            "decision_id": v.decision_id, "tenant_id": draft["tenant_id"], "account": draft["account"],
            "verdict": v.verdict, "body": v.body, "edit_distance": v.edit_distance, "reason": v.reason,
            "reviewer": v.reviewer[:100], "result": v.result, "created_at": at}).first()
        if done is None:  # another reviewer's verdict landed first
            raced = show(rt, None, v.decision_id)
            return _given(raced, v.verdict, v.body) or v
        c.execute(update(outcomes).where(outcomes.c.decision_id == v.decision_id, outcomes.c.outcome == PENDING)
                  .values(outcome=outcome, signal=signal[:200], settled_at=at, edit_distance=v.edit_distance))
    log.info("review account=%s decision=%s verdict=%s outcome=%s", draft["account"], v.decision_id, v.verdict,
             outcome)
    from deskhand.responder.advice import promote

    promote(rt.store, draft["account"])  # the ledger learnt something: promotion advice (if opted in)
    return v


__all__ = ["ReviewConflict", "Verdict", "approve", "pending", "reject", "show"]
