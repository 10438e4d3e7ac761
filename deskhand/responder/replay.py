"""Replay: the responder in shadow over historical solved tickets, compared with what humans answered.

For each solved/closed ticket: the opening message is decided as if it had just arrived (nothing is
written anywhere), and the would-be reply is compared with the first public answer a human agent
gave: semantic similarity (MiniLM cosine) and whether the same knowledge supports both (the best
source retrieved for the human answer is among the sources of ours). Per category this gives a
readiness report: the evidence for moving it from draft to canary to auto.

Tickets come from the connector (iter_tickets/get_ticket) until the sync replica lands.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from deskhand.model import Comment, Route, Status, Ticket, Visibility
from deskhand.responder import rules
from deskhand.responder.compose import compose_reply
from deskhand.responder.decide import decide
from deskhand.responder.policy import Policy
from deskhand.runtime import Identity, Runtime

SIMILAR = 0.6  # cosine at or above which a would-be reply says what the human said
READY_CANARY = dict(n=10, similar=0.6, agree=0.6)
READY_AUTO = dict(n=30, similar=0.8, agree=0.8)


@dataclass(frozen=True, slots=True)
class ReplayCase:
    ticket_id: str
    category: str
    route: str
    confidence: float
    similarity: float | None  # None: no reply of ours, or no human answer
    same_sources: bool | None
    question: str
    human: str | None
    reply: str | None


def human_answer(ticket: Ticket, ident: Identity) -> Comment | None:
    requester = ticket.requester.id if ticket.requester else None
    for c in ticket.comments[1:]:
        if c.visibility is Visibility.PUBLIC and c.author_id in ident.staff_ids and c.author_id != requester \
                and c.author_id != ident.own_id:
            return c
    return None


def historical(rt: Runtime, account: str, since: datetime | None = None) -> Iterable[Ticket]:
    """Solved and closed tickets (with comments), oldest first as the helpdesk lists them."""
    connector = rt.connector(rt.store.get_account(account))
    if since and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    for t in connector.iter_tickets():
        if t.status not in (Status.SOLVED, Status.CLOSED):
            continue
        created = t.created_at.replace(tzinfo=t.created_at.tzinfo or UTC) if t.created_at else None
        if since and created and created < since:
            continue
        yield connector.get_ticket(t.id, with_comments=True)


def replay_ticket(rt: Runtime, tenant_id: str, ticket: Ticket, ident: Identity, policy: Policy) -> ReplayCase:
    opening = dataclasses.replace(ticket, comments=ticket.comments[:1])  # the ticket as it arrived
    message = ticket.text
    triage = rt.triage(message)
    fired = rules.fire(
        rules.RuleInput(ticket=opening, text=message, triage=triage, staff_ids=ident.staff_ids, own_id=ident.own_id),
        policy,
    )
    sources = [s for s in rt.retrieve(tenant_id, message) if s.score >= policy.min_source_score]
    name = ticket.requester.name if ticket.requester else None
    reply = compose_reply(message, sources, customer_name=name)
    d = decide(triage=triage, fired=fired, sources=sources, reply=reply, policy=policy)
    human = human_answer(ticket, ident)
    similarity, same = None, None
    if human is not None and d.reply:
        from deskhand.ai.embed import default_embedder

        vecs = default_embedder().embed([d.reply, human.body])
        similarity = round(float(np.dot(vecs[0], vecs[1])), 4)
        theirs = [s for s in rt.retrieve(tenant_id, human.body, k=3) if s.score >= policy.min_source_score]
        ours = {_article(s.id) for s in d.sources}
        same = bool(theirs) and _article(theirs[0].id) in ours
    return ReplayCase(ticket.id, triage.category, d.route.value, d.confidence, similarity, same,
                      ticket.subject, human.body if human else None, d.reply)


def _article(source_id: str) -> str:
    return source_id.split("#")[0]


def replay(rt: Runtime, account: str, *, since: datetime | None = None, limit: int | None = None) -> dict[str, Any]:
    rec = rt.store.get_account(account)
    policy, ident = Policy.from_settings(rec.settings), rt.identity(rec)
    cases = []
    for ticket in historical(rt, account, since):
        cases.append(replay_ticket(rt, rec.tenant_id, ticket, ident, policy))
        if limit and len(cases) >= limit:
            break
    return {"account": account, "tickets": len(cases), "categories": readiness(cases),
            "cases": [dataclasses.asdict(c) for c in cases]}


def readiness(cases: Iterable[ReplayCase]) -> list[dict[str, Any]]:
    by_cat: dict[str, list[ReplayCase]] = defaultdict(list)
    for c in cases:
        by_cat[c.category].append(c)
    report = []
    for cat, cs in sorted(by_cat.items()):
        compared = [c for c in cs if c.similarity is not None]
        sims = [c.similarity for c in compared if c.similarity is not None]
        similar = sum(1 for s in sims if s >= SIMILAR) / len(sims) if sims else 0.0
        agree = sum(1 for c in compared if c.same_sources) / len(compared) if compared else 0.0
        row = {
            "category": cat, "tickets": len(cs),
            "would_auto": sum(1 for c in cs if c.route == Route.AUTO_REPLY.value),
            "would_draft": sum(1 for c in cs if c.route == Route.DRAFT.value),
            "would_human": sum(1 for c in cs if c.route == Route.HUMAN.value),
            "compared": len(compared), "mean_similarity": round(sum(sims) / len(sims), 4) if sims else None,
            "similar_share": round(similar, 4), "same_sources_share": round(agree, 4),
        }
        row["readiness"] = _verdict(len(compared), similar, agree)
        report.append(row)
    return report


def _verdict(n: int, similar: float, agree: float) -> str:
    for mode, bar in (("auto", READY_AUTO), ("canary", READY_CANARY)):
        if n >= bar["n"] and similar >= bar["similar"] and agree >= bar["agree"]:
            return f"ready for {mode}"
    if n < READY_CANARY["n"]:
        return f"not enough evidence ({n} compared, need {READY_CANARY['n']})"
    return "keep in draft"
