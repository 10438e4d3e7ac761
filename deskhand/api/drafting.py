"""POST /v1/tickets/{ticket_id}/draft: the responder run on a ticket in dry run. The ticket is read
live, its newest customer message goes through the same pipeline a webhook's does (classification,
rules, retrieval, generation, guardrails, provenance screening: deskhand.responder.assist.respond),
and the proposed reply comes back with its evidence. Nothing is written: no decision, no action, no
comment (the review queue and the helpdesk are untouched)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from deskhand.api.auth import require, runtime
from deskhand.api.keys import Principal
from deskhand.api.problems import PROBLEMS
from deskhand.api.tickets import Live, TicketId, split_id
from deskhand.model import Ticket, Visibility
from deskhand.runtime import Runtime

router = APIRouter(prefix="/v1/tickets", tags=["tickets"], responses=PROBLEMS)
Reader = Annotated[Principal, Depends(require("tickets:read"))]
Rt = Annotated[Runtime, Depends(runtime)]


class Evidence(BaseModel):
    id: str
    title: str
    score: float
    kind: str
    url: str | None = None


class Proposal(BaseModel):
    """What the responder would do with the ticket now (nothing of it was done)."""

    ticket_id: str
    route: str  # auto_reply | draft | human | ignore
    reply: str | None = None
    category: str | None = None
    urgency: str | None = None
    confidence: float
    reasons: list[str]
    rules: list[str]
    sources: list[Evidence]
    guardrails: dict[str, Any] | None = None
    message: str | None = None  # the customer text that was answered


def _message(ticket: Ticket, own_id: str | None) -> str | None:
    """The newest customer message: the opening, or the requester's latest public comment after it."""
    from deskhand.responder import loopguard

    requester = ticket.requester.id if ticket.requester else None
    latest = next((c for c in reversed(ticket.comments[1:]) if c.visibility is Visibility.PUBLIC
                   and requester and c.author_id == requester), None)
    if loopguard.screen(ticket, latest, own_id):
        return None
    return f"{ticket.subject}\n\n{latest.body}".strip() if latest else ticket.text


@router.post("/{ticket_id}/draft", response_model=Proposal,
             summary="Draft a reply: the responder on this ticket in dry run (writes nothing)")
def draft_reply(who: Reader, rt: Rt, lc: Live, ticket_id: TicketId) -> Proposal:
    from deskhand.responder.assist import respond
    from deskhand.responder.policy import Policy

    account, remote = split_id(rt, who, ticket_id)
    ticket = lc.get(account).get_ticket(remote, with_comments=True)
    ident = rt.identity(account)
    message = _message(ticket, ident.own_id)
    if message is None:
        return Proposal(ticket_id=ticket_id, route="ignore", confidence=0.0, rules=[], sources=[],
                        reasons=["the newest message is not a customer's to answer (loop guard)"])
    decision, evidence = respond(rt, account, ticket, message, Policy.from_settings(account.settings), ident)
    triage = decision.triage
    return Proposal(
        ticket_id=ticket_id, route=decision.route.value, reply=decision.reply,
        category=triage.category if triage else None, urgency=triage.urgency.value if triage else None,
        confidence=round(decision.confidence, 4), reasons=list(decision.reasons), rules=list(decision.rules),
        sources=[Evidence(id=s.id, title=s.title, score=round(s.score, 4), kind=s.kind, url=s.url)
                 for s in decision.sources],
        guardrails=evidence.get("guardrails"), message=message,
    )
