"""Hand-off after a failed automatic answer: the ticket goes to a human, with what was tried, and
deskhand never answers it automatically again (issue 15, finding 1)."""

from __future__ import annotations

from deskhand.settings import Settings
from deskhand.store import Store
from deskhand.testing.loop import sim_loop

EXPORT_Q = ("How do I export my data?", "How can I export all my projects and tasks to CSV?")


def test_a_customer_saying_it_did_not_help_gets_a_human_and_never_another_automatic_reply(
    store: Store, settings: Settings
) -> None:
    with sim_loop("zendesk", store, settings, mode="auto") as loop:
        tid = loop.create(*EXPORT_Q)
        loop.drain()
        (first,) = [d for d in loop.decisions(tid) if d["route"] == "auto_reply"]
        replies = loop.own_comments(tid)
        assert len(replies) == 1 and "a member of our team will take over" in replies[0].body
        loop.customer_says(tid, "That did not help. There is no Data tab in Settings.")
        loop.drain()
        routed = [d for d in loop.decisions(tid) if d["route"] != "ignore"]
        assert [d["route"] for d in routed] == ["auto_reply", "human"], routed
        handoff = routed[-1]
        assert "handoff_after_failure" in handoff["rules"]
        ticket = loop.sim.state.tickets[int(tid)]
        assert "deskhand_escalated" in ticket["tags"]
        assert ticket["group_id"] is not None  # assigned to the escalation team
        notes = [c for c in loop.own_comments(tid) if c.visibility.value == "internal"]
        assert len(notes) == 1
        note = notes[0].body
        assert "Export your data" in note  # the source of the earlier reply
        assert "did not help" in note  # why it failed
        assert f"decision {first['id']}" in note
        loop.customer_says(tid, "Hello? I still cannot find it, this is really frustrating.")
        loop.drain()
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
        loop.drain()
        (handoff,) = [d for d in loop.decisions(tid) if d["route"] == "human"]
        assert handoff["rules"] == ["handoff_after_failure"] and "reopened" in handoff["reasons"][0]
        ticket = loop.sim.state.tickets[int(tid)]
        assert "deskhand_escalated" in ticket["tags"] and ticket["group_id"] is not None
        (note,) = [c for c in loop.own_comments(tid) if c.visibility.value == "internal"]
        assert "did not work (reopened" in note.body
