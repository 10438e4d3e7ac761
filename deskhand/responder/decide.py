"""From evidence to a Decision, and from a Decision to Actions: pure functions over values."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from deskhand.ai.support import SupportModel
from deskhand.model import Action, ActionKind, Decision, Route, Source, Status, Triage
from deskhand.responder.policy import Policy

SUPPORT = SupportModel()  # P(the best document is the right one | its cosine, its margin), calibrated


def combine_confidence(triage_confidence: float, support: float) -> float:
    """Geometric mean of how sure the category is and how well the knowledge supports a reply:
    both must be high for the product to be high."""
    return round(math.sqrt(max(0.0, triage_confidence) * max(0.0, support)), 4)


def decide(
    *,
    triage: Triage,
    fired: Sequence[tuple[str, str]],
    sources: Sequence[Source],
    reply: str | None,
    policy: Policy,
) -> Decision:
    evidence = [s for s in sources if s.score >= policy.min_source_score]
    support = SUPPORT.of_sources(evidence) if evidence else 0.0
    confidence = combine_confidence(triage.confidence, support)
    rules = tuple(name for name, _ in fired)
    reasons = [reason for _, reason in fired]
    base = dict(triage=triage, confidence=confidence, rules=rules, sources=tuple(evidence), reply=reply)
    if fired:
        return _noted(Decision(route=Route.HUMAN, reasons=tuple(reasons), **base), triage)  # type: ignore[arg-type]
    return _noted(_by_confidence(triage, evidence, support, confidence, reply, policy, base), triage)


def _noted(decision: Decision, triage: Triage) -> Decision:
    """The decision with a note when the negative_sentiment rule could not judge the message."""
    if triage.sentiment is not None:
        return decision
    why = (f"negative_sentiment not assessed: the message is in {triage.language or 'another language'} and "
           "the sentiment lexicon reads English only")
    return dataclasses.replace(decision, reasons=(*decision.reasons, why))


def _by_confidence(triage: Triage, evidence: list[Source], support: float, confidence: float, reply: str | None,
                   policy: Policy, base: dict[str, object]) -> Decision:
    if not evidence or not reply:
        what = "nothing in the knowledge base supports a reply" if not evidence else (
            f"no reply was written from {len(evidence)} supporting source(s)")
        why = f"{what} (category {triage.category}, classification confidence {triage.confidence:.2f})"
        return Decision(route=Route.HUMAN, reasons=(why,), **base)  # type: ignore[arg-type]
    summary = (
        f"category {triage.category} ({triage.confidence:.2f}), best source similarity "
        f"{evidence[0].score:.2f}, support {support:.2f}"
    )
    if confidence >= policy.auto_threshold and triage.category in policy.auto_categories:
        why = f"confidence {confidence:.2f} ≥ {policy.auto_threshold:.2f}; {summary}"
        return Decision(route=Route.AUTO_REPLY, reasons=(why,), **base)  # type: ignore[arg-type]
    if confidence >= policy.draft_threshold:
        if confidence >= policy.auto_threshold:
            why = f"category {triage.category} may not auto-reply for this account; {summary}"
        else:
            why = f"confidence {confidence:.2f} below auto-reply bar {policy.auto_threshold:.2f}; {summary}"
        return Decision(route=Route.DRAFT, reasons=(why,), **base)  # type: ignore[arg-type]
    why = f"confidence {confidence:.2f} below draft bar {policy.draft_threshold:.2f}; {summary}"
    return Decision(route=Route.HUMAN, reasons=(why,), **base)  # type: ignore[arg-type]


def ignore(reason: str) -> Decision:
    return Decision(route=Route.IGNORE, triage=None, confidence=0.0, reasons=(reason,))


def plan(decision: Decision, *, ticket_id: str, key: str, escalation_team: str | None, policy: Policy) -> list[Action]:
    """The helpdesk effects of a decision, each with an idempotency key `{key}:{kind}`."""

    def act(kind: ActionKind, **params: object) -> Action:
        return Action(kind=kind, ticket_id=ticket_id, key=f"{key}:{kind.value}", params=dict(params))

    if decision.route is Route.AUTO_REPLY:
        return [
            act(ActionKind.REPLY, body=decision.reply),
            act(ActionKind.SET_STATUS, status=Status.PENDING.value),
        ]
    if decision.route is Route.DRAFT:
        return [act(ActionKind.NOTE, body=draft_note(decision))]
    if decision.route is Route.HUMAN:
        actions = [act(ActionKind.ADD_TAGS, tags=[policy.escalation_tag])]
        if escalation_team:
            actions.append(act(ActionKind.ASSIGN, team_id=escalation_team))
        actions.append(act(ActionKind.NOTE, body=human_note(decision)))
        return actions
    return []


def _why(decision: Decision) -> str:
    lines = [f"- {r}" for r in decision.reasons]
    if decision.triage:
        t = decision.triage
        lines.append(
            f"- triage: {t.category} ({t.confidence:.2f}), urgency {t.urgency.value}, "
            f"sentiment {_sentiment(t)}; overall confidence {decision.confidence:.2f}"
        )
    for i, s in enumerate(decision.sources[:3], 1):
        lines.append(f"- source [{i}] {s.title} ({s.kind}, {s.id}) similarity {s.score:.2f}")
    return "\n".join(lines)


def _sentiment(t: Triage) -> str:
    return f"{t.sentiment:+.2f}" if t.sentiment is not None else f"not assessed ({t.language or 'language'})"


def draft_note(decision: Decision) -> str:
    return (
        "deskhand draft (internal, not sent to the customer). Review, edit and send it if it is right.\n\n"
        f"Proposed reply:\n----\n{decision.reply}\n----\n\nWhy a draft:\n{_why(decision)}"
    )


def human_note(decision: Decision) -> str:
    proposal = f"\n\nA possible answer, for reference:\n----\n{decision.reply}\n----" if decision.reply else ""
    return f"deskhand routed this ticket to a human.\n\nWhy:\n{_why(decision)}{proposal}"
