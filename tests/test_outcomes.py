"""Outcome ledger: the feedback classifier on held-out replies, settlement rules, draft edit distance
over loopback, the figures (`deskhand metrics`) and the Prometheus series at /metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from deskhand.model import Comment, Contact, Event, EventKind, Status, Ticket, Visibility
from deskhand.responder.feedback import EXAMPLES, Feedback, Reading, classifier
from deskhand.responder.outcomes import edit_distance, entries, settle
from deskhand.responder.scores import compute
from deskhand.runtime import Identity
from deskhand.settings import Settings
from deskhand.store import Store
from deskhand.testing.loop import sim_loop

HELD_OUT = [  # real-looking replies, none of them in the training examples
    ("Hi, thanks a lot — I followed your steps and can log in again!", Feedback.WORKED),
    ("Thank you! Password reset worked, you can close this.", Feedback.WORKED),
    ("ok thanks, got it sorted", Feedback.WORKED),
    ("Cheers, that fixed it", Feedback.WORKED),
    ("Yes, it works now, thank you!", Feedback.WORKED),
    ("Hmm, I tried all of that before writing to you. Still can't get in.", Feedback.NOT_HELPED),
    ("Still not working for me, unfortunately.", Feedback.NOT_HELPED),
    ("I'm afraid the problem is still there after clearing the cache.", Feedback.NOT_HELPED),
    ("no luck, same error", Feedback.NOT_HELPED),
    ("Sorry but that's not answering my question.", Feedback.NOT_HELPED),
    ("Is anyone looking at this? It's been two days.", Feedback.OTHER),
    ("Attached are the logs from this morning.", Feedback.OTHER),
    ("Where can I find the API docs?", Feedback.OTHER),
    ("Do you have a status page I can subscribe to?", Feedback.OTHER),
]


def test_held_out_replies_are_not_training_examples() -> None:
    seen = {t.lower() for texts in EXAMPLES.values() for t in texts}
    assert not [t for t, _ in HELD_OUT if t.lower() in seen]


def test_feedback_classifier_reads_held_out_replies() -> None:
    c = classifier()
    wrong = [(t, want, c.read(t).feedback) for t, want in HELD_OUT if c.read(t).feedback is not want]
    assert len(wrong) <= 1, wrong  # ≥ 13/14
    assert c.read("> Thanks, that worked!\nOn Mon, Ann wrote:").feedback is not Feedback.NOT_HELPED


@pytest.mark.parametrize(("draft", "sent", "low", "high"), [
    ("Hi Ann, reset it from the login page.", "Hi Ann, reset it from the login page.", 0.0, 0.0),
    ("Hi Ann, reset it from the login page.", "Hi Ann,  reset it from the login page!", 0.0, 0.1),
    ("Hi Ann, reset it from the login page.", "We refunded the duplicate charge.", 0.5, 1.0),
], ids=["same", "whitespace-and-punctuation", "rewritten"])
def test_edit_distance_is_normalised(draft: str, sent: str, low: float, high: float) -> None:
    assert low <= edit_distance(draft, sent) <= high


NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
IDENT = Identity(own_id="bot", staff_ids=frozenset({"bot", "agent"}), teams={})


def _ticket(status: Status, comments: list[tuple[str, str, bool]], csat: str | None = None) -> Ticket:
    cs = tuple(Comment(id=f"c{i}", ticket_id="1", body=b, visibility=Visibility.PUBLIC if pub else Visibility.INTERNAL,
                       author_id=a) for i, (a, b, pub) in enumerate(comments))
    raw: dict[str, Any] = {"satisfaction_rating": {"score": csat}} if csat else {}
    return Ticket(id="1", subject="s", description="d", status=status, raw_status=status.value,
                  requester=Contact(id="cust"), comments=cs, raw=raw)


def _event(kind: EventKind, comment_id: str | None = None, author: str | None = None) -> Event:
    return Event(provider="zendesk", account="acme", kind=kind, ticket_id="1", delivery_id="x",
                 comment_id=comment_id, author_id=author)


def _entry(route: str, outcome: str = "pending", last: str = "pending", **kw: Any) -> dict[str, Any]:
    return {"route": route, "mode": "auto", "outcome": outcome, "last_status": last, "body": "Reset it here.",
            "settled_at": kw.get("settled_at"), "csat": None}


def fake_read(text: str) -> Reading:
    t = text.lower()
    if "worked" in t:
        return Reading(Feedback.WORKED, 0.9)
    if "didn't help" in t:
        return Reading(Feedback.NOT_HELPED, 0.9)
    return Reading(Feedback.OTHER, 0.9)


OPEN = [("cust", "q", True), ("bot", "Reset it here.", True)]
CASES = [
    ("customer-says-it-worked", _entry("auto_reply"), _event(EventKind.COMMENT_ADDED, "c2", "cust"),
     _ticket(Status.OPEN, [*OPEN, ("cust", "that worked", True)]), "resolved"),
    ("customer-says-it-did-not-help", _entry("auto_reply"), _event(EventKind.COMMENT_ADDED, "c2", "cust"),
     _ticket(Status.OPEN, [*OPEN, ("cust", "that didn't help", True)]), "failed"),
    ("reopened-solved-to-open", _entry("auto_reply", last="solved"), _event(EventKind.TICKET_UPDATED),
     _ticket(Status.OPEN, OPEN), "reopened"),
    ("reopened-within-24h", _entry("auto_reply", "resolved", "solved", settled_at=NOW - timedelta(hours=3)),
     _event(EventKind.TICKET_UPDATED), _ticket(Status.OPEN, OPEN), "reopened"),
    ("reopened-after-24h-is-not-ours", _entry("auto_reply", "resolved", "solved", settled_at=NOW - timedelta(hours=30)),
     _event(EventKind.TICKET_UPDATED), _ticket(Status.OPEN, OPEN), None),
    ("csat-bad", _entry("auto_reply"), _event(EventKind.TICKET_UPDATED), _ticket(Status.SOLVED, OPEN, "bad"), "failed"),
    ("silence-until-closed", _entry("auto_reply"), _event(EventKind.TICKET_UPDATED), _ticket(Status.CLOSED, OPEN),
     "resolved"),
    ("agent-steps-in", _entry("auto_reply"), _event(EventKind.COMMENT_ADDED, "c2", "agent"),
     _ticket(Status.OPEN, [*OPEN, ("agent", "Let me look", True)]), "escalated"),
    ("draft-sent-as-is", _entry("draft"), _event(EventKind.COMMENT_ADDED, "c2", "agent"),
     _ticket(Status.PENDING, [("cust", "q", True), ("bot", "note", False), ("agent", "Reset it here.", True)]),
     "accepted"),
    ("draft-sent-status-event-first", _entry("draft"), _event(EventKind.TICKET_UPDATED),
     _ticket(Status.SOLVED, [("cust", "q", True), ("bot", "note", False), ("agent", "Reset it here.", True)]),
     "accepted"),
    ("draft-unused-when-solved-without-reply", _entry("draft"), _event(EventKind.TICKET_UPDATED),
     _ticket(Status.SOLVED, [("cust", "q", True), ("bot", "note", False)]), "unused"),
    ("draft-rewritten", _entry("draft"), _event(EventKind.COMMENT_ADDED, "c2", "agent"),
     _ticket(Status.PENDING, [("cust", "q", True), ("bot", "note", False), ("agent", "We refunded you.", True)]),
     "discarded"),
    ("draft-internal-agent-note-does-not-settle", _entry("draft"), _event(EventKind.COMMENT_ADDED, "c2", "agent"),
     _ticket(Status.OPEN, [("cust", "q", True), ("bot", "note", False), ("agent", "hmm", False)]), None),
]


@pytest.mark.parametrize(("entry", "event", "ticket", "outcome"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_later_events_settle_the_outcome(entry: dict[str, Any], event: Event, ticket: Ticket,
                                         outcome: str | None) -> None:
    got = settle(entry, event, ticket, IDENT, NOW, fake_read)
    assert got.get("outcome") == outcome, got


def test_a_sent_draft_is_measured_and_shows_in_metrics_and_prometheus(store: Store, settings: Settings) -> None:
    with sim_loop("zendesk", store, settings, mode="draft") as loop:
        tid = loop.create("How do I reset my password?", "I forgot my password. How do I reset it?")
        loop.drain()
        (entry,) = entries(store)
        assert entry["route"] == "draft" and entry["outcome"] == "pending"
        loop.agent_says(tid, entry["body"] + "\n\nBest, Sam", status="solved")
        loop.drain()
        (entry,) = entries(store)
        assert entry["outcome"] == "accepted" and 0 < entry["edit_distance"] <= 0.15
        (row,) = compute(store, by=("account", "category"))
        assert (row["drafts"], row["draft_acceptance"]) == (1, 1.0)
        from deskhand.api.keys import create_key
        from deskhand.gateway.app import create_app
        from deskhand.sim.base import SimServer

        _, key = create_key(store.engine, loop.rt.store.get_account("acme").tenant_id, ["admin"])
        with SimServer(create_app(loop.rt)) as gw:
            assert httpx.get(f"{gw.url}/metrics").status_code == 401
            body = httpx.get(f"{gw.url}/metrics", headers={"Authorization": f"Bearer {key}"}).text
        assert f'deskhand_draft_acceptance{{account="acme",category="{entry["category"]}"}} 1.0' in body
        assert "deskhand_decisions" in body
