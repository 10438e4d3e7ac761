"""Hand-off after a failed automatic answer: the promise at the end of every automatic reply
("reply to this message and a member of our team will take over") kept.

Once the outcome ledger marks an automatic reply on a ticket as failed (the customer says it did
not help, a bad CSAT) or reopened, deskhand never answers that ticket automatically again: every
later customer message is routed to a human with the rule `handoff_after_failure`, and an event
that settles the failure without a message (a reopen, a bad rating) hands the ticket over itself.
The hand-off is planned with the generic actions (tag, assign to the escalation team, internal
note saying what was tried and why it failed), so it works the same on every provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from deskhand.model import Decision, Route
from deskhand.store import Store
from deskhand.store import schema as t
from deskhand.store.tables_autonomy import outcomes

RULE = "handoff_after_failure"
FAILED_OUTCOMES = ("failed", "reopened")


@dataclass(frozen=True, slots=True)
class Tried:
    """An automatic reply on the ticket that did not work."""

    decision_id: int
    outcome: str  # failed | reopened
    signal: str  # what settled it ("customer: it did not help (0.93)")
    source: str | None  # the best source the reply was built from: “title” (id)

    def reason(self) -> str:
        src = f" from {self.source}" if self.source else ""
        return (
            f"the automatic reply of decision {self.decision_id}{src} did not work ({self.outcome}: "
            f"{self.signal}); deskhand will not answer this ticket automatically again"
        )


def failed_replies(store: Store, account: str, ticket_id: str) -> list[Tried]:
    """The automatic replies sent on this ticket that the ledger settled as failed or reopened."""
    o, d = outcomes.c, t.decisions.c
    q = (
        select(o.decision_id, o.outcome, o.signal, d.evidence)
        .select_from(outcomes.outerjoin(t.decisions, d.id == o.decision_id))
        .where(o.account == account, o.ticket_id == str(ticket_id), o.route == Route.AUTO_REPLY.value,
               o.mode != "shadow", o.outcome.in_(FAILED_OUTCOMES))
        .order_by(o.id)
    )
    with store.engine.connect() as c:
        rows = c.execute(q).all()
    return [Tried(int(r.decision_id), r.outcome, r.signal or "", _source(r.evidence)) for r in rows]


def _source(evidence: Any) -> str | None:
    sources = (evidence or {}).get("sources") or [] if isinstance(evidence, dict) else []
    if not sources:
        return None
    best = sources[0]
    return f"\u201c{best.get('title')}\u201d ({best.get('id')})"


def reasons(tried: list[Tried]) -> list[tuple[str, str]]:
    """The fired-rule pairs for a hand-off ([] when nothing failed on the ticket)."""
    return [(RULE, tr.reason()) for tr in tried[-1:]]  # the latest failure says what was tried last


def handoff_decision(tried: list[Tried]) -> Decision:
    """A human decision for an event that settled a failure without a customer message to answer."""
    return Decision(route=Route.HUMAN, triage=None, confidence=0.0, rules=(RULE,),
                    reasons=tuple(r for _, r in reasons(tried)))
