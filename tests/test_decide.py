from __future__ import annotations

import pytest

from deskhand.model import ActionKind, Route, Source, Triage, Urgency
from deskhand.responder.decide import combine_confidence, decide, plan
from deskhand.responder.policy import Policy

POLICY = Policy()


def _triage(category: str = "how_to", conf: float = 0.95) -> Triage:
    return Triage(category=category, urgency=Urgency.LOW, confidence=conf)


def _srcs(score: float, runner_up: float = 0.0) -> list[Source]:
    """The best document at `score` and a runner-up document: support depends on both."""
    best = Source(id="kb/a.md#0", title="Reset your password", text="1. Click Forgot password", score=score)
    other = Source(id="kb/b.md#0", title="Account locked", text="Wait 30 minutes", score=runner_up)
    return [best, other] if runner_up else [best]


@pytest.mark.parametrize(
    ("category", "conf", "score", "fired", "reply", "route"),
    [
        ("how_to", 0.95, (0.80, 0.50), [], "r", Route.AUTO_REPLY),  # clear winner: support ≈ 1
        ("how_to", 0.95, (0.50, 0.50), [], "r", Route.DRAFT),  # a tie: support .45, sqrt(.95*.45)=.65
        ("how_to", 0.50, (0.50, 0.50), [], "r", Route.HUMAN),  # sqrt(.5*.45)=.47
        ("feature_request", 0.99, (0.99, 0.50), [], "r", Route.DRAFT),  # not an auto category
        ("how_to", 0.99, (0.99, 0.50), [("outage_wording", "down")], "r", Route.HUMAN),
        ("how_to", 0.99, (0.10, 0.0), [], None, Route.HUMAN),  # no evidence
    ],
    ids=[
        "confident",
        "weak-support-drafts",
        "low-confidence-human",
        "category-not-allowed",
        "rule-wins",
        "no-evidence",
    ],
)
def test_route_follows_thresholds_rules_and_evidence(category, conf, score, fired, reply, route) -> None:
    d = decide(triage=_triage(category, conf), fired=fired, sources=_srcs(*score), reply=reply, policy=POLICY)
    assert d.route is route
    assert d.reasons


def test_hard_rules_are_recorded_with_the_decision() -> None:
    fired = [("critical_urgency", "critical"), ("negative_sentiment", "angry")]
    d = decide(triage=_triage(), fired=fired, sources=_srcs(0.99), reply="r", policy=POLICY)
    assert d.rules == ("critical_urgency", "negative_sentiment")
    assert d.reasons == ("critical", "angry")


def test_support_rewards_a_clear_winner_over_a_close_call() -> None:
    from deskhand.responder.decide import SUPPORT

    assert SUPPORT.of_sources(_srcs(0.70, 0.40)) > 0.95
    assert SUPPORT.of_sources(_srcs(0.70, 0.69)) < 0.6


def test_confidence_needs_both_category_and_support() -> None:
    assert combine_confidence(1.0, 0.0) == 0.0
    assert combine_confidence(0.81, 0.81) == pytest.approx(0.81)


@pytest.mark.parametrize(
    ("route", "kinds"),
    [
        (Route.AUTO_REPLY, [ActionKind.REPLY, ActionKind.SET_STATUS]),
        (Route.DRAFT, [ActionKind.NOTE]),
        (Route.HUMAN, [ActionKind.ADD_TAGS, ActionKind.ASSIGN, ActionKind.NOTE]),
    ],
    ids=["auto", "draft", "human"],
)
def test_plan_per_route_with_idempotency_keys(route: Route, kinds: list[ActionKind]) -> None:
    triage, scores = _triage(), (0.9, 0.4)
    if route is Route.DRAFT:
        scores = (0.5, 0.5)
    fired = [("critical_urgency", "critical")] if route is Route.HUMAN else []
    d = decide(triage=triage, fired=fired, sources=_srcs(*scores), reply="Hi", policy=POLICY)
    assert d.route is route
    actions = plan(d, ticket_id="5", key="ev9", escalation_team="360", policy=POLICY)
    assert [a.kind for a in actions] == kinds
    assert [a.key for a in actions] == [f"ev9:{k.value}" for k in kinds]
    if route is Route.AUTO_REPLY:
        assert actions[0].params == {"body": "Hi"} and actions[1].params == {"status": "pending"}
    if route is Route.HUMAN:
        assert actions[0].params == {"tags": ["deskhand_escalated"]}
        assert actions[1].params == {"team_id": "360"}
        assert "critical" in actions[2].params["body"]


def test_policy_rejects_inverted_thresholds() -> None:
    from deskhand.errors import ConfigError

    with pytest.raises(ConfigError, match="draft_threshold"):
        Policy.from_settings({"auto_threshold": "0.5", "draft_threshold": "0.7"})
    p = Policy.from_settings({"auto_threshold": "0.9", "auto_categories": "how_to,billing"})
    assert p.auto_threshold == 0.9 and p.auto_categories == ("how_to", "billing")


def test_a_message_whose_sentiment_was_not_assessed_says_so_and_claims_no_negativity() -> None:
    from deskhand.responder.decide import human_note
    from deskhand.responder.rules import RuleInput, fire

    triage = Triage(category="billing", urgency=Urgency.LOW, confidence=0.9, sentiment=None, language="de")
    d = decide(triage=triage, fired=[], sources=[], reply=None, policy=Policy())
    assert d.reasons[-1].startswith("negative_sentiment not assessed: the message is in de")
    note = human_note(d)
    assert "sentiment not assessed (de)" in note and "negative sentiment" not in note
    from deskhand.model import Status, Ticket

    ticket = Ticket(id="1", subject="s", description="d", status=Status.NEW, raw_status="new")
    inp = RuleInput(ticket=ticket, text="x", triage=triage, staff_ids=frozenset(), own_id=None)
    assert "negative_sentiment" not in dict(fire(inp, Policy()))
