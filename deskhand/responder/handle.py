"""handle_event: one stored event in, one stored decision (with planned actions) out.

ticket = connector.get_ticket → triage → hard rules → retrieve → compose → decide → plan → store.
The decision and the job that applies it are committed together, so a crash anywhere re-runs this
job and finds either nothing (starts over) or the decision (only re-enqueues its application).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from sqlalchemy.exc import IntegrityError

from deskhand import outbound
from deskhand.model import ActionKind, Decision, EventKind, Ticket
from deskhand.queue import PRIORITY_WRITE
from deskhand.responder import assist, handoff, loopguard, outcomes
from deskhand.responder.decide import ignore, plan
from deskhand.responder.modes import Gate, apply_autonomy
from deskhand.responder.policy import Policy
from deskhand.runtime import Identity, Runtime
from deskhand.store import AccountRecord, StoredEvent

log = logging.getLogger(__name__)
ANSWERED_KINDS = (EventKind.TICKET_CREATED, EventKind.COMMENT_ADDED)


def handle_event(rt: Runtime, event_id: int) -> int | None:
    """Decide for one event; returns the decision id (None when the event needs no decision)."""
    started_at = time.time()  # stored with the decision: its created_at minus this is the time deciding took
    done = rt.store.decision_for_event(event_id)
    if done is not None:
        _enqueue_apply(rt, None, int(done["id"]))
        return int(done["id"])
    stored = rt.store.get_event(event_id)
    ev = stored.event
    account = rt.store.get_account(ev.account)
    outbound.event_recorded(rt, account.tenant_id, event_id, ev)  # unified webhooks (deskhand.api.outbound)
    read: list[Ticket] = []

    def ticket_now() -> Ticket:  # read once, when first needed, by the ledger or by the answer
        if not read:
            read.append(rt.connector(account).get_ticket(ev.ticket_id, with_comments=True))
        return read[0]

    if ev.kind is EventKind.COMMENT_ADDED and ev.comment_id is None:
        stored = _with_newest_comment(stored, ticket_now())
        ev = stored.event

    # later events settle earlier AI actions in the outcome ledger
    settled = outcomes.observe(rt, stored, ticket_now=ticket_now)
    policy = Policy.from_settings(account.settings)
    ident = rt.identity(account)
    if ev.kind not in ANSWERED_KINDS:
        failed = any(outcome in handoff.FAILED_OUTCOMES for _, outcome in settled)
        tried = handoff.failed_replies(rt.store, account.name, ev.ticket_id) if failed else []
        if not tried:
            log.info("event %s (%s) needs no answer", event_id, ev.kind.value)
            return None
        # a reopen or a bad rating without a message: the promised human takes over now
        ticket = ticket_now()
        gate = _gate_handoff(rt, account, handoff.handoff_decision(tried), ticket)
        ai_evidence: dict[str, object] = {}
    else:
        ticket = ticket_now()
        decision = _decide(rt, stored, account, ident, ticket, policy)
        ai_evidence = assist.evidence_for(decision)  # classification, guardrails, LLM usage + cost
        gate = apply_autonomy(rt.store, account, decision, stored=stored, ticket=ticket)  # modes, kill switches
    decision = gate.decision
    team = ident.teams.get(policy.escalation_team.lower()) or ident.teams.get(policy.escalation_team)
    actions = plan(decision, ticket_id=ticket.id, key=f"ev{event_id}", escalation_team=team, policy=policy)
    actions = actions if gate.writes else []
    if ActionKind.NOTE not in _definition_actions(account.provider):
        # a helpdesk without internal notes: a draft or a hand-off note stays in deskhand (the decision,
        # the review queue), never a comment the requester would read as an answer
        actions = [a for a in actions if a.kind is not ActionKind.NOTE]
    evidence = {
        "triage_scores": decision.triage.scores if decision.triage else {},
        "sources": [
            {"id": s.id, "title": s.title, "kind": s.kind, "score": round(s.score, 4), "url": s.url}
            for s in decision.sources
        ],
        "ticket_subject": ticket.subject,
        **ai_evidence,
        "timing": {"started_at": round(started_at, 4)},  # this attempt's start (unix s): `bench pipeline --rate`
    }
    try:
        with rt.store.transaction() as conn:
            decision_id = rt.store.save_decision(
                conn,
                tenant_id=account.tenant_id,
                account=account.name,
                event_id=event_id,
                ticket_id=ticket.id,
                decision=decision,
                evidence=evidence,
                actions=actions,
            )
            outcomes.record(conn, decision_id=decision_id, account=account, ticket=ticket, decision=decision,
                            mode=gate.mode.value, evidence=evidence)
            if actions:
                _enqueue_apply(rt, conn, decision_id)
    except IntegrityError:
        # another worker decided this event while we worked (it took the job over after our lease
        # ran out): its decision stands, ours is dropped, and nothing is applied twice
        first = rt.store.decision_for_event(event_id)
        if first is None:
            raise
        log.warning("event %s was decided by another worker meanwhile (decision %s); ours is dropped",
                    event_id, first["id"])
        _enqueue_apply(rt, None, int(first["id"]))
        return int(first["id"])
    outcomes.charge(rt.store, account, evidence)  # LLM spend → the hourly cost cap switch
    outbound.decision_made(rt, account.tenant_id, decision_id, account.name, ticket.id, decision)
    log.info(
        "decided account=%s ticket=%s event=%s route=%s confidence=%.2f rules=%s",
        account.name,
        ticket.id,
        event_id,
        decision.route.value,
        decision.confidence,
        ",".join(decision.rules),
    )
    return decision_id


def _definition_actions(provider: str) -> set[ActionKind]:
    from deskhand.providers import load_definition

    return set(load_definition(provider).actions)


def _with_newest_comment(stored: StoredEvent, ticket: Ticket) -> StoredEvent:
    """A comment event whose webhook names no comment (Freshdesk's automation rules carry none) is
    about the ticket's newest comment: its id and author are read from the ticket, so the event is
    then screened (echo, staff, requester, already answered) like any other."""
    if not ticket.comments:
        return stored
    newest = ticket.comments[-1]
    return replace(stored, event=replace(stored.event, comment_id=newest.id, author_id=newest.author_id))


def _enqueue_apply(rt: Runtime, conn: object, decision_id: int) -> None:
    rt.queue.enqueue(
        conn,  # type: ignore[arg-type]
        "apply_decision",
        {"decision_id": decision_id},
        dedupe_key=f"apply:{decision_id}",
        priority=PRIORITY_WRITE,
    )


def _gate_handoff(rt: Runtime, account: AccountRecord, decision: Decision, ticket: Ticket) -> Gate:
    """The account's mode (and kill switches) applied to a hand-off decided without a message."""
    from deskhand.responder.modes import gate, get_mode
    from deskhand.responder.switches import cap_for

    setting = get_mode(rt.store, account.name, None)
    return gate(decision, setting, ticket_id=ticket.id, cap=cap_for(rt.store, account.name, account.provider, None))


def _customer_message(stored: StoredEvent, ticket: Ticket, ident: Identity) -> str | Decision:
    """The text to answer, or an `ignore` decision when this event is not a customer's new message."""
    ev = stored.event
    if ev.kind is EventKind.TICKET_CREATED:
        why = loopguard.screen(ticket, None, ident.own_id)
        return ignore(why) if why else ticket.text
    if ev.author_id is not None and ev.author_id == ident.own_id:
        return ignore("our own comment (echo)")
    requester = ticket.requester.id if ticket.requester else None
    if ev.author_id is not None and ev.author_id in ident.staff_ids and ev.author_id != requester:
        return ignore("a comment by an agent")  # (a member who raised the ticket, as on Linear, is its requester)
    if ticket.requester and ev.author_id and ev.author_id != ticket.requester.id:
        return ignore("a comment by someone other than the requester")
    comment = next((c for c in ticket.comments if c.id == ev.comment_id), None)
    if comment is None:
        return ignore(f"comment {ev.comment_id} is not on the ticket")
    if ticket.comments and ticket.comments[0].id == comment.id and _same_text(comment.body, ticket.description):
        # Zendesk's description is its first comment; Jira's is not, so a first comment there is news.
        return ignore("the ticket's first comment is its description (answered through ticket_created)")
    if why := loopguard.screen(ticket, comment, ident.own_id):
        return ignore(why)
    return f"{ticket.subject}\n\n{comment.body}".strip()


def _answered_before(rt: Runtime, stored: StoredEvent) -> bool:
    """Another, earlier ticket_created of the same ticket exists (a late webhook after a reconcile)."""
    from deskhand.sync.reconcile import first_created_event

    with rt.store.engine.connect() as conn:
        first = first_created_event(conn, stored.event.account, stored.event.ticket_id)
    return first is not None and first != stored.id


def _decide(
    rt: Runtime, stored: StoredEvent, account: AccountRecord, ident: Identity, ticket: Ticket, policy: Policy
) -> Decision:
    if stored.event.kind is EventKind.TICKET_CREATED and _answered_before(rt, stored):
        return ignore("ticket_created already handled for this ticket (webhook and sync reconcile)")
    message = _customer_message(stored, ticket, ident)
    if isinstance(message, Decision):
        return message
    # an automatic reply on this ticket already failed: the promised human answers from now on
    tried = handoff.failed_replies(rt.store, account.name, ticket.id)
    return assist.decide_message(rt, account, ticket, message, policy, ident,  # classify … guardrails
                                 fired=handoff.reasons(tried))


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())
