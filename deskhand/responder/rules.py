"""Hard rules: they override confidence and send a ticket to a human. Each returns a reason or None."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from deskhand.model import Comment, Ticket, Triage, Urgency, Visibility
from deskhand.responder.policy import Policy

OUTAGE_TERMS = (
    r"outage",
    r"(?:is|are|went|goes|going|been|site|app|service|system|server|api|everything)\s+down",
    r"down\s+for\s+(?:everyone|all|us|hours)",
    r"not\s+loading\s+for\s+(?:anyone|everyone)",
    r"data\s+loss",
    r"lost\s+(?:all\s+)?(?:our|my|the)?\s*data",
    r"data\s+(?:was|is|has been)\s+(?:deleted|wiped|lost|corrupted)",
    r"security\s+(?:incident|breach)",
    r"breach",
    r"hacked",
    r"(?:5\d\d|502|503|504)\s+errors?\s+(?:everywhere|for\s+everyone|on\s+every)",
    r"production\s+is\s+(?:down|broken)",
)


@dataclass(frozen=True, slots=True)
class RuleInput:
    ticket: Ticket
    text: str  # the customer message being answered (subject + body for a new ticket)
    triage: Triage
    staff_ids: frozenset[str]  # agents of the helpdesk, including our own API user
    own_id: str | None


Rule = Callable[[RuleInput, Policy], str | None]


def critical_urgency(inp: RuleInput, _p: Policy) -> str | None:
    if inp.triage.urgency is Urgency.CRITICAL:
        return "urgency classified critical"
    return None


def outage_wording(inp: RuleInput, p: Policy) -> str | None:
    terms = OUTAGE_TERMS + tuple(re.escape(t) for t in p.extra_outage_terms)
    for term in terms:
        m = re.search(rf"\b{term}\b", inp.text, re.IGNORECASE)
        if m:
            return f"outage / incident wording: {m.group(0)!r}"
    if inp.triage.category == "outage_report":
        return "classified as an outage report"
    return None


def negative_sentiment(inp: RuleInput, p: Policy) -> str | None:
    if inp.triage.sentiment is None:  # not assessed in this language: `decide` says so in the reasons
        return None
    if inp.triage.sentiment <= p.angry_threshold:
        return f"strongly negative sentiment ({inp.triage.sentiment:+.2f})"
    return None


def human_already_replied(inp: RuleInput, _p: Policy) -> str | None:
    # The first comment is the ticket's description, whoever submitted it (an agent may open a
    # ticket on a customer's behalf); replies are the comments after it.
    for c in inp.ticket.comments[1:]:
        if _is_human_agent_reply(c, inp):
            return f"a human agent already replied (comment {c.id})"
    return None


def _is_human_agent_reply(c: Comment, inp: RuleInput) -> bool:
    return (
        c.visibility is Visibility.PUBLIC
        and c.author_id is not None
        and c.author_id != inp.own_id
        and c.author_id in inp.staff_ids
        and (inp.ticket.requester is None or c.author_id != inp.ticket.requester.id)
    )


RULES: dict[str, Rule] = {
    "critical_urgency": critical_urgency,
    "outage_wording": outage_wording,
    "negative_sentiment": negative_sentiment,
    "human_already_replied": human_already_replied,
}


def fire(inp: RuleInput, policy: Policy, names: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """The rules that fire, as (name, reason) pairs, in a stable order."""
    fired = []
    for name in names or RULES:
        reason = RULES[name](inp, policy)
        if reason:
            fired.append((name, reason))
    return fired


__all__ = ["RULES", "RuleInput", "fire"]
