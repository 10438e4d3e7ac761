"""The outcome ledger: every AI action recorded; later events on the same ticket settle it.

Entries are opened with the decision (same transaction) and settled by `observe()` when a later
event arrives for the ticket:
- automatic reply: the customer says it worked (resolved) or did not help (failed, a classifier),
  the ticket is reopened within 24 h (solved/pending → open: reopened), a human agent steps in
  (escalated), CSAT good/bad, or silence until the ticket closes (resolved);
- draft (and shadow decisions): the agent's public reply after our draft, by normalised edit distance
  to what we proposed (accepted ≤ 0.15 < edited ≤ 0.5 < discarded), or closed without one (unused);
- human: handled when an agent answers, or closed.
`settle()` is a pure function of (entry, event, ticket); `observe()` does the I/O and asks the kill
switches to re-evaluate the category after an automatic reply settles.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from rapidfuzz.distance import Levenshtein
from sqlalchemy import Connection, insert, or_, select, update

from deskhand.errors import DeskhandError
from deskhand.model import Comment, Decision, Event, EventKind, Route, Status, Ticket, Visibility
from deskhand.responder.feedback import Feedback, Reading
from deskhand.runtime import Identity, Runtime
from deskhand.store import AccountRecord, StoredEvent
from deskhand.store.db import new_id
from deskhand.store.store import now
from deskhand.store.tables_autonomy import outcomes

log = logging.getLogger(__name__)
PENDING = "pending"
REOPEN_WINDOW = timedelta(hours=24)
ACCEPTED_MAX, EDITED_MAX = 0.15, 0.5
Reader = Callable[[str], Reading]


def record(
    conn: Connection,
    *,
    decision_id: int,
    account: AccountRecord,
    ticket: Ticket,
    decision: Decision,
    mode: str,
    evidence: dict[str, Any],
) -> int | None:
    """Open a ledger entry for a decision that acted (or would have, in shadow)."""
    if decision.route is Route.IGNORE:
        return None
    best = decision.sources[0].score if decision.sources else 0.0
    res = conn.execute(
        insert(outcomes).values(
            decision_id=decision_id, account=account.name, provider=account.provider, ticket_id=ticket.id,
            category=decision.triage.category if decision.triage else "unknown", route=decision.route.value,
            mode=mode, question=ticket.text[:4000], body=decision.reply, best_score=float(best),
            cost_usd=cost_of(evidence), last_status=ticket.status.value, outcome=PENDING,
            created_at=now(),
        )
    )
    return new_id(res)


def cost_of(evidence: dict[str, Any]) -> float:
    """LLM spend recorded with a decision (USD; 0 when offline or unknown)."""
    return float(evidence.get("cost_usd") or (evidence.get("llm") or {}).get("cost_usd") or 0.0)


def charge(store: Any, account: AccountRecord, evidence: dict[str, Any]) -> None:
    """Count a decision's LLM spend against the account's hourly cap (may trip its switch)."""
    from deskhand.responder.switches import note_llm_cost

    usd = cost_of(evidence)
    if usd > 0:
        note_llm_cost(store, account.name, account.provider, usd)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text or "").strip().lower()


def edit_distance(draft: str, sent: str) -> float:
    """Normalised Levenshtein distance in [0, 1] between the draft and what was sent."""
    return float(Levenshtein.normalized_distance(_norm(draft), _norm(sent)))


def _aware(ts: datetime | None) -> datetime | None:
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts


def settle(entry: dict[str, Any], ev: Event, ticket: Ticket, ident: Identity, at: datetime, read: Reader,
           rating: str | None = None) -> dict[str, Any]:
    """The column updates an event implies for one ledger entry ({} when nothing changes). `rating`:
    the customer's rating where the helpdesk keeps it apart from the ticket (good | neutral | bad);
    else Zendesk's satisfaction_rating on the ticket. Only good and bad settle an automatic reply."""
    status, prev = ticket.status.value, entry["last_status"]
    out: dict[str, Any] = {"last_status": status} if status != prev else {}
    pending = entry["outcome"] == PENDING
    csat = rating or ((ticket.raw or {}).get("satisfaction_rating") or {}).get("score")
    if csat in ("good", "neutral", "bad") and entry.get("csat") != csat:
        out["csat"] = csat
    comment = next((c for c in ticket.comments if c.id == ev.comment_id), None) if ev.comment_id else None
    author = comment.author_id if comment else ev.author_id
    requester = ticket.requester.id if ticket.requester else None
    by_agent = comment is not None and author in ident.staff_ids and author != ident.own_id \
        and comment.visibility is Visibility.PUBLIC and author != requester
    by_customer = comment is not None and author == requester and author != ident.own_id

    def done(outcome: str, signal: str, **extra: Any) -> dict[str, Any]:
        return {**out, "outcome": outcome, "signal": signal[:200], "settled_at": at, **extra}

    if entry["route"] == Route.AUTO_REPLY.value and entry["mode"] != "shadow":
        reopened = prev in (Status.SOLVED.value, Status.PENDING.value) and status == Status.OPEN.value
        if not pending:
            since = _aware(entry["settled_at"]) or at
            if entry["outcome"] == "resolved" and reopened and at - since <= REOPEN_WINDOW \
                    and not _latest_customer_worked(ticket, requester, read):
                return done("reopened", f"reopened {prev} → open within 24 h of resolution")
            return out
        if by_customer and ev.kind is EventKind.COMMENT_ADDED:
            reading = read(comment.body)  # type: ignore[union-attr]
            if reading.feedback is Feedback.WORKED:
                return done("resolved", f"customer: it worked ({reading.confidence:.2f})")
            if reading.feedback is Feedback.NOT_HELPED:
                return done("failed", f"customer: it did not help ({reading.confidence:.2f})")
        if by_agent:
            return done("escalated", f"a human agent replied (comment {ev.comment_id})")
        if csat in ("good", "bad"):
            return done("resolved" if csat == "good" else "failed", f"CSAT {csat}")
        if reopened and not _latest_customer_worked(ticket, requester, read):
            return done("reopened", f"reopened {prev} → open")
        if status == Status.CLOSED.value:
            return done("resolved", "closed without complaint")
        return out
    if not pending:
        return out
    if entry["route"] in (Route.DRAFT.value, Route.AUTO_REPLY.value) and entry.get("body"):
        sent = comment if by_agent else None
        if sent is None and status in (Status.SOLVED.value, Status.CLOSED.value):
            sent = _last_agent_reply(ticket, ident, requester)  # its comment event may come later
        if sent is not None:
            dist = edit_distance(entry["body"], sent.body)
            verdict = "accepted" if dist <= ACCEPTED_MAX else "edited" if dist <= EDITED_MAX else "discarded"
            return done(verdict, f"agent sent a reply at edit distance {dist:.2f}", edit_distance=round(dist, 4))
        if status in (Status.SOLVED.value, Status.CLOSED.value):
            return done("unused", f"ticket {status} without an agent reply")
        return out
    if by_agent:
        return done("handled", f"a human agent replied (comment {ev.comment_id})")
    if status == Status.CLOSED.value:
        return done("handled", "closed")
    return out


def _last_agent_reply(ticket: Ticket, ident: Identity, requester: str | None) -> Comment | None:
    agents = [c for c in ticket.comments[1:] if c.visibility is Visibility.PUBLIC and c.author_id in ident.staff_ids
              and c.author_id not in (ident.own_id, requester)]
    return agents[-1] if agents else None


def _latest_customer_worked(ticket: Ticket, requester: str | None, read: Reader) -> bool:
    """Whether the customer's latest comment says it worked (then pending → open is not a reopen)."""
    theirs = [c for c in ticket.comments[1:] if requester and c.author_id == requester]
    return bool(theirs) and read(theirs[-1].body).feedback is Feedback.WORKED


def open_entries(rt: Runtime, account: str, ticket_id: str, at: datetime) -> list[dict[str, Any]]:
    """Entries an event on this ticket may still settle: pending, or resolved recently (reopen)."""
    o = outcomes.c
    q = select(outcomes).where(
        o.account == account, o.ticket_id == ticket_id,
        or_(o.outcome == PENDING, (o.outcome == "resolved") & (o.settled_at >= at - REOPEN_WINDOW)),
    )
    with rt.store.engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(q).all()]


def observe(rt: Runtime, stored: StoredEvent, *, at: datetime | None = None, read: Reader | None = None,
            ticket_now: Callable[[], Ticket] | None = None) -> list[tuple[int, str]]:
    """Settle what this event settles; returns (entry id, outcome) for each entry it changed.
    `ticket_now` reads the ticket as it is now (handle_event passes one it shares, so an event that
    settles an entry and is answered too costs one read of the ticket, not two)."""
    from deskhand.responder import switches

    ev, stamp = stored.event, at or now()
    entries = open_entries(rt, ev.account, ev.ticket_id, stamp)
    entries = [e for e in entries if e["decision_id"] not in _decisions_of_event(rt, stored.id)]
    if not entries:
        return []
    if read is None:
        from deskhand.responder.feedback import classifier

        read = classifier().read
    account = rt.store.get_account(ev.account)
    if ticket_now is None:
        ticket = rt.connector(account).get_ticket(ev.ticket_id, with_comments=True)
    else:
        ticket = ticket_now()
    ident = rt.identity(account)
    rating = _rating(rt, account, ticket)
    changed: list[tuple[int, str]] = []
    for entry in entries:
        updates = settle(entry, ev, ticket, ident, stamp, read, rating)
        if not updates:
            continue
        with rt.store.transaction() as c:
            c.execute(update(outcomes).where(outcomes.c.id == entry["id"]).values(**updates))
        if "outcome" in updates:
            changed.append((entry["id"], updates["outcome"]))
            log.info("outcome account=%s ticket=%s decision=%s route=%s outcome=%s signal=%s", ev.account,
                     ev.ticket_id, entry["decision_id"], entry["route"], updates["outcome"], updates["signal"])
            if entry["route"] == Route.AUTO_REPLY.value:
                switches.evaluate(rt.store, ev.account, entry["category"], at=stamp)
    if changed:
        from deskhand.responder.advice import promote

        promote(rt.store, ev.account)  # only when the account opted in
    return changed


def _rating(rt: Runtime, account: AccountRecord, ticket: Ticket) -> str | None:
    """The customer's rating from the helpdesk's own ratings (Freshdesk surveys, JSM feedback: the
    definition's resources.satisfaction), read once the ticket is solved or closed (when helpdesks ask
    for one); None for helpdesks that keep it on the ticket, or when it cannot be read now (logged:
    a rating is not worth failing the settlement for)."""
    if ticket.status not in (Status.SOLVED, Status.CLOSED):
        return None
    connector = rt.connector(account)
    if "satisfaction" not in connector.definition.resources:
        return None
    try:
        return connector.satisfaction(ticket.id)
    except DeskhandError as exc:
        log.warning("csat account=%s ticket=%s unreadable: %s", account.name, ticket.id, exc)
        return None


def _decisions_of_event(rt: Runtime, event_id: int) -> set[int]:
    d = rt.store.decision_for_event(event_id)
    return {int(d["id"])} if d else set()


def entries(store: Any, *, account: str | None = None, since: datetime | None = None) -> list[dict[str, Any]]:
    q = select(outcomes).order_by(outcomes.c.id)
    if account:
        q = q.where(outcomes.c.account == account)
    if since:
        q = q.where(outcomes.c.created_at >= since)
    with store.engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(q).all()]
