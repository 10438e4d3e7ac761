from __future__ import annotations

import pytest

from deskhand.model import Comment, Contact, Status, Ticket, Triage, Urgency, Visibility
from deskhand.responder.policy import Policy
from deskhand.responder.rules import RuleInput, fire


def _ticket(comments: tuple[Comment, ...] = ()) -> Ticket:
    return Ticket(
        id="1",
        subject="s",
        description="d",
        status=Status.NEW,
        raw_status="new",
        requester=Contact(id="100", name="Ann"),
        comments=comments,
    )


def _input(
    text: str,
    *,
    urgency: Urgency = Urgency.LOW,
    sentiment: float = 0.0,
    category: str = "how_to",
    comments: tuple[Comment, ...] = (),
) -> RuleInput:
    triage = Triage(category=category, urgency=urgency, confidence=0.9, sentiment=sentiment)
    return RuleInput(ticket=_ticket(comments), text=text, triage=triage, staff_ids=frozenset({"7", "8"}), own_id="8")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The site is down for everyone", "outage_wording"),
        ("We have an outage in EU", "outage_wording"),
        ("All our data is gone, this is data loss", "outage_wording"),
        ("Possible security breach on our account", "outage_wording"),
        ("How do I download an invoice?", None),
        ("I want to scale down my plan", None),
    ],
    ids=["down", "outage", "data-loss", "breach", "calm", "scale-down-is-not-an-outage"],
)
def test_outage_wording(text: str, expected: str | None) -> None:
    names = [n for n, _ in fire(_input(text), Policy())]
    assert (expected in names) if expected else names == []


def test_critical_urgency_and_anger_fire() -> None:
    fired = dict(fire(_input("x", urgency=Urgency.CRITICAL, sentiment=-0.9), Policy()))
    assert set(fired) == {"critical_urgency", "negative_sentiment"}


def test_a_human_agents_public_reply_hands_the_thread_to_humans() -> None:
    first = Comment(id="c1", ticket_id="1", body="opened for Ann", visibility=Visibility.PUBLIC, author_id="7")
    human = Comment(id="c2", ticket_id="1", body="On it", visibility=Visibility.PUBLIC, author_id="7")
    ours = Comment(id="c3", ticket_id="1", body="draft", visibility=Visibility.PUBLIC, author_id="8")
    internal = Comment(id="c4", ticket_id="1", body="note", visibility=Visibility.INTERNAL, author_id="7")
    assert [n for n, _ in fire(_input("q", comments=(first, human)), Policy())] == ["human_already_replied"]
    assert fire(_input("q", comments=(first, ours, internal)), Policy()) == []
    assert fire(_input("q", comments=(first,)), Policy()) == []  # an agent opening the ticket is no reply


def test_extra_outage_terms_per_account() -> None:
    policy = Policy.from_settings({"extra_outage_terms": "sev1,p0 incident"})
    assert [n for n, _ in fire(_input("we have a SEV1 right now"), policy)] == ["outage_wording"]
