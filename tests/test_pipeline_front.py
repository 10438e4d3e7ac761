"""The responder on Front end to end (simulator → signed application webhook → gateway → queue →
decision → Front): an automatic answer is a public reply and the conversation waits on the customer;
a draft is an internal comment only, never a message the customer receives."""

from __future__ import annotations

from deskhand.model import Status, Visibility
from deskhand.settings import Settings
from deskhand.store import Store
from deskhand.testing.loop import sim_loop

QUESTION = ("How do I export my data?", "How can I export all my projects and tasks to CSV?")


def test_an_automatic_answer_is_a_public_reply_and_the_conversation_waits_on_the_customer(
        store: Store, settings: Settings) -> None:
    with sim_loop("front", store, settings, mode="auto") as loop:
        tid = loop.create(*QUESTION)
        loop.drain()
        assert [d["route"] for d in loop.decisions(tid) if d["route"] != "ignore"] == ["auto_reply"]
        (reply,) = loop.own_comments(tid)
        assert reply.visibility is Visibility.PUBLIC
        conv = loop.sim.state.conversations[tid]
        assert loop.sim.state.statuses[conv["status_id"]]["category"] == "waiting"
        ticket = loop.rt.connector(loop.rt.store.get_account(loop.account)).get_ticket(tid)
        assert ticket.status is Status.PENDING
        sent = [m for m in loop.sim.state.messages[tid] if not m["is_inbound"]]
        assert [m["text"] for m in sent] == [reply.body]


def test_a_draft_is_an_internal_comment_and_no_message_reaches_the_customer(store: Store, settings: Settings) -> None:
    with sim_loop("front", store, settings, mode="draft") as loop:
        tid = loop.create(*QUESTION)
        loop.drain()
        own = loop.own_comments(tid)
        assert own and all(c.visibility is Visibility.INTERNAL for c in own)
        assert all(m["is_inbound"] for m in loop.sim.state.messages[tid])
        assert loop.sim.state.comments[tid]
