"""Autonomy modes: the gate after decide(), the audited store, and shadow over loopback."""

from __future__ import annotations

import copy

import pytest

from deskhand.model import Decision, Route, Triage, Urgency
from deskhand.responder.modes import (
    DEFAULT_MODE,
    Mode,
    ModeSetting,
    canary_bucket,
    gate,
    get_mode,
    history,
    set_mode,
)
from deskhand.settings import Settings
from deskhand.store import Store
from deskhand.testing.loop import sim_loop

AUTO = Decision(route=Route.AUTO_REPLY, triage=Triage("how_to", Urgency.LOW, 0.9), confidence=0.9,
                reasons=("confident",), reply="Hi")
HUMAN = Decision(route=Route.HUMAN, triage=Triage("how_to", Urgency.LOW, 0.9), confidence=0.2, reasons=("low",))


def _setting(mode: Mode, share: float = 0.5) -> ModeSetting:
    return ModeSetting("acme", "how_to", mode, share, "test", None)


@pytest.mark.parametrize(
    ("mode", "decision", "route", "writes"),
    [
        (Mode.OFF, AUTO, Route.IGNORE, False),
        (Mode.SHADOW, AUTO, Route.AUTO_REPLY, False),
        (Mode.SHADOW, HUMAN, Route.HUMAN, False),
        (Mode.DRAFT, AUTO, Route.DRAFT, True),
        (Mode.DRAFT, HUMAN, Route.HUMAN, True),
        (Mode.AUTO, AUTO, Route.AUTO_REPLY, True),
    ],
    ids=["off-ignores", "shadow-keeps-route-writes-nothing", "shadow-human", "draft-demotes-auto",
         "draft-keeps-human", "auto-unchanged"],
)
def test_gate_applies_the_mode(mode: Mode, decision: Decision, route: Route, writes: bool) -> None:
    g = gate(decision, _setting(mode), ticket_id="1")
    assert (g.decision.route, g.writes, g.mode) == (route, writes, mode)


def test_canary_answers_exactly_the_tickets_under_the_share_and_is_stable() -> None:
    ids = [str(i) for i in range(400)]
    routes = {i: gate(AUTO, _setting(Mode.CANARY, 0.25), ticket_id=i).decision.route for i in ids}
    answered = [i for i in ids if routes[i] is Route.AUTO_REPLY]
    assert all(canary_bucket("acme", i) < 0.25 for i in answered)
    assert 0.18 < len(answered) / len(ids) < 0.32
    assert routes == {i: gate(AUTO, _setting(Mode.CANARY, 0.25), ticket_id=i).decision.route for i in ids}


def test_a_tripped_switch_caps_the_mode_and_says_why() -> None:
    g = gate(AUTO, _setting(Mode.AUTO), ticket_id="1", cap=(Mode.DRAFT, "#3 category: too many failures"))
    assert g.decision.route is Route.DRAFT and g.mode is Mode.DRAFT
    assert "kill switch: #3 category: too many failures" in g.decision.reasons[-1]


def test_new_accounts_start_in_draft_and_changes_are_audited(store: Store) -> None:
    assert get_mode(store, "acme").mode is DEFAULT_MODE is Mode.DRAFT
    set_mode(store, "acme", "auto", actor="ann")
    set_mode(store, "acme", "canary", category="billing", canary_share=0.2, actor="bob", reason="pilot")
    assert get_mode(store, "acme", "how_to").mode is Mode.AUTO  # inherits the account's
    billing = get_mode(store, "acme", "billing")
    assert (billing.mode, billing.canary_share, billing.updated_by) == (Mode.CANARY, 0.2, "bob")
    trail = [(h["actor"], h["category"], h["from_mode"], h["to_mode"]) for h in reversed(history(store, "acme"))]
    assert trail == [("ann", "*", None, "auto"), ("bob", "billing", None, "canary")]


def _snapshot(state: object) -> object:
    s = state  # type: ignore[assignment]
    with s.lock:  # type: ignore[attr-defined]
        return copy.deepcopy((s.tickets, s.comments, s.audits))  # type: ignore[attr-defined]


def test_shadow_mode_records_decisions_and_leaves_the_helpdesk_untouched(store: Store, settings: Settings) -> None:
    with sim_loop("zendesk", store, settings, mode="shadow") as loop:
        tids = [loop.create("How do I reset my password?", "I forgot my password. How do I reset it?"),
                loop.create("Everything is down", "The app is down for everyone, all requests fail with 503.")]
        before = _snapshot(loop.sim.state)
        loop.drain()
        assert _snapshot(loop.sim.state) == before
        (reset,), (outage,) = (loop.decisions(t) for t in tids)
        assert reset["route"] == "auto_reply" and "shadow mode" in reset["reasons"][-1]
        assert outage["route"] == "human"
        assert loop.rt.store.actions_for(reset["id"]) == [] and loop.rt.store.actions_for(outage["id"]) == []
        from deskhand.responder.outcomes import entries

        assert {(e["ticket_id"], e["mode"]) for e in entries(store)} == {(tids[0], "shadow"), (tids[1], "shadow")}


def test_draft_mode_posts_an_internal_note_instead_of_a_reply(store: Store, settings: Settings) -> None:
    with sim_loop("zendesk", store, settings, mode=None) as loop:  # a new account: draft
        tid = loop.create("How do I reset my password?", "I forgot my password. How do I reset it?")
        loop.drain()
        (d,) = [d for d in loop.decisions(tid) if d["route"] != "ignore"]
        assert d["route"] == "draft" and "mode draft" in d["reasons"][-1]
        (note,) = loop.own_comments(tid)
        assert note.visibility.value == "internal"
