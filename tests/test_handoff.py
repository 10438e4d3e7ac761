"""Hand-off after a failed automatic answer: the ticket goes to a human, with what was tried, and
deskhand never answers it automatically again (issue 15, finding 1)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from deskhand.model import ActionKind, Ticket
from deskhand.providers import load_definition
from deskhand.settings import Settings
from deskhand.sim import registry
from deskhand.store import Store
from deskhand.testing.loop import Loop, sim_loop

EXPORT_Q = ("How do I export my data?", "How can I export all my projects and tasks to CSV?")


def _routed(loop: Loop, tid: str) -> list[dict[str, Any]]:
    return [d for d in loop.decisions(tid) if d["route"] != "ignore"]


def _drain_until(loop: Loop, done: Callable[[], bool]) -> None:
    """Drain until `done()` (webhooks of earlier writes may still be arriving); a generous deadline."""
    deadline = time.monotonic() + 60
    loop.drain()
    while not done() and time.monotonic() < deadline:
        time.sleep(0.1)
        loop.drain()


def _ticket(loop: Loop, tid: str) -> Ticket:
    """The ticket as deskhand's connector reads it (tags, team) on whichever helpdesk it is."""
    return loop.rt.connector(loop.rt.store.get_account(loop.account)).get_ticket(tid)


@pytest.mark.parametrize("provider", registry.slugs())
def test_a_customer_saying_it_did_not_help_gets_a_human_and_never_another_automatic_reply(
    provider: str, store: Store, settings: Settings
) -> None:
    with sim_loop(provider, store, settings, mode="auto") as loop:
        tid = loop.create(*EXPORT_Q)
        loop.drain()
        (first,) = [d for d in loop.decisions(tid) if d["route"] == "auto_reply"]
        replies = loop.own_comments(tid)
        assert len(replies) == 1 and "a member of our team will take over" in replies[0].body
        loop.customer_says(tid, "That did not help. There is no Data tab in Settings.")
        _drain_until(loop, lambda: len(_routed(loop, tid)) >= 2)
        routed = _routed(loop, tid)
        assert [d["route"] for d in routed] == ["auto_reply", "human"], routed
        handoff = routed[-1]
        assert "handoff_after_failure" in handoff["rules"]
        ticket = _ticket(loop, tid)
        assert "deskhand_escalated" in ticket.tags
        definition = load_definition(provider)
        if "team" in definition.resources:
            assert ticket.team_id is not None or ticket.assignee_id is not None  # the escalation team has it
        notes = [c for c in loop.own_comments(tid) if c.visibility.value == "internal"]
        if ActionKind.NOTE in definition.actions:
            assert len(notes) == 1
            note = notes[0].body
            assert "Export your data" in note  # the source of the earlier reply
            # why it failed: the customer's words, or the reopen they caused — whichever event the ledger
            # settled first (on Freshdesk the reply's comment and its pending → open change are two webhooks)
            assert "did not help" in note or "reopened" in note
            assert f"decision {first['id']}" in note
        else:  # no internal comments (Linear, Trello): the hand-off is the label (+ assignment), no comment
            assert notes == [] and len(loop.own_comments(tid)) == 1
        loop.customer_says(tid, "Hello? I still cannot find it, this is really frustrating.")
        _drain_until(loop, lambda: len(_routed(loop, tid)) >= 3)
        public = [c for c in loop.own_comments(tid) if c.visibility.value == "public"]
        assert len(public) == 1  # the one automatic reply, never a second
        last = [d for d in loop.decisions(tid) if d["route"] != "ignore"][-1]
        assert last["route"] == "human" and "handoff_after_failure" in last["rules"]


def test_a_reopen_after_an_automatic_reply_hands_the_ticket_over_without_a_new_message(
    store: Store, settings: Settings
) -> None:
    with sim_loop("zendesk", store, settings, mode="auto") as loop:
        tid = loop.create(*EXPORT_Q)
        loop.drain()
        assert loop.sim.state.tickets[int(tid)]["status"] == "pending"
        loop.set_status(tid, "open")  # reopened (a trigger, the customer in the help center): no message
        _drain_until(loop, lambda: any(d["route"] == "human" for d in loop.decisions(tid)))
        (handoff,) = [d for d in loop.decisions(tid) if d["route"] == "human"]
        assert handoff["rules"] == ["handoff_after_failure"] and "reopened" in handoff["reasons"][0]
        ticket = loop.sim.state.tickets[int(tid)]
        assert "deskhand_escalated" in ticket["tags"] and ticket["group_id"] is not None
        (note,) = [c for c in loop.own_comments(tid) if c.visibility.value == "internal"]
        assert "did not work (reopened" in note.body
