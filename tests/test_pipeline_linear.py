"""End to end over loopback with Linear (CHECKLIST point 5, what `deskhand demo` runs for it): the
simulator's signed webhook → gateway → queue → worker → write-back, read from the simulator's own
state. Real SQLite, real HTTP, the real offline models. Linear comments have no private flag, so a
draft is never a comment: it waits in the review queue."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from deskhand.model import Status, Visibility
from deskhand.responder import review
from deskhand.settings import Settings
from deskhand.store import Store
from deskhand.testing.loop import Loop, sim_loop

PASSWORD = ("How do I reset my password?", "I forgot my password and cannot sign in. How do I reset it?")


@pytest.fixture
def auto(store: Store, settings: Settings) -> Iterator[Loop]:
    with sim_loop("linear", store, settings, mode="auto") as loop:
        yield loop


@pytest.fixture
def draft(store: Store, settings: Settings) -> Iterator[Loop]:
    with sim_loop("linear", store, settings, mode="draft") as loop:
        yield loop


def _decision(loop: Loop, tid: str) -> dict[str, Any]:
    (d,) = [d for d in loop.decisions(tid) if d["route"] != "ignore"]
    return d


def _state(loop: Loop, tid: str) -> str:
    issue = loop.sim.state.issues[tid]
    return str(loop.sim.state.states[issue["stateId"]]["name"])


def test_an_auto_reply_is_a_comment_and_the_issue_moves_to_the_pending_state(auto: Loop) -> None:
    tid = auto.create(*PASSWORD)
    auto.drain()
    assert _decision(auto, tid)["route"] == "auto_reply"
    (reply,) = auto.own_comments(tid)
    assert reply.visibility is Visibility.PUBLIC and "Forgot password" in reply.body
    assert _state(auto, tid) == "Waiting for customer"  # the account's pinned pending state
    assert auto.customer.get_ticket(tid, with_comments=False).status is Status.PENDING


def test_a_draft_waits_in_the_review_queue_and_nothing_is_written_on_the_issue(draft: Loop) -> None:
    tid = draft.create(*PASSWORD)
    before = _state(draft, tid)
    draft.drain()
    decision = _decision(draft, tid)
    assert decision["route"] == "draft"
    assert draft.sim.state.comments_of(tid) == []  # no comment at all: the customer would read it
    assert _state(draft, tid) == before
    waiting = review.pending(draft.rt, None, account=decision["account"])
    assert [w["ticket_id"] for w in waiting] == [tid]


def test_an_angry_outage_goes_to_a_human_with_the_escalation_label_and_no_comment(auto: Loop) -> None:
    tid = auto.create("Everything is down!!!", "Your service has been DOWN for an hour, this is unacceptable, "
                                              "we are losing money. Fix it NOW or we cancel.")
    auto.drain()
    assert _decision(auto, tid)["route"] == "human"
    issue = auto.sim.state.issues[tid]
    assert [auto.sim.state.labels[i]["name"] for i in issue["labelIds"]] == ["deskhand_escalated"]
    assert auto.sim.state.comments_of(tid) == []
