"""A public reply on Front is posted once even when Front makes it visible late.

Front accepts a sent message asynchronously (202 + ``message_uid``; FACTS.md §4, §12). deskhand waits
for it (hooks/front.py ``SEND_WAIT_S``); when the wait gives up, or the worker dies while waiting, the
retry must not send the reply again while the first one is still on its way. The simulator's clock is
the test's: deskhand's waits (``Runtime.sleep``) advance it, so "later than the wait" is exact.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from deskhand.errors import ProviderError
from deskhand.model import Action, ActionKind, Decision, Route
from deskhand.responder import effects
from deskhand.settings import Settings
from deskhand.sim.front_state import FrontState
from deskhand.store import Store
from deskhand.testing.loop import Loop, sim_loop

REPLY = "Hello Ann,\n\nYou can export your data from Settings > Export.\n\nBest regards"
DELAY_S = 45.0  # longer than the hook's 30 s wait, shorter than the wait plus one more


class SimClock:
    """The simulator's time: real time at the start, then moved only by deskhand's waits."""

    def __init__(self) -> None:
        self.now = time.time()
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


class Killed(BaseException):
    """The worker process dying (nothing of it catches this)."""


def _reply_decision(loop: Loop, ticket_id: str) -> int:
    event_id = loop.rt.store.list_events(account="acme", limit=1)[0].id
    action = Action(kind=ActionKind.REPLY, ticket_id=ticket_id, key=f"test:{ticket_id}:reply", params={"body": REPLY})
    with loop.rt.store.transaction() as conn:
        return loop.rt.store.save_decision(conn, tenant_id="default", account="acme", event_id=event_id,
                                           ticket_id=ticket_id, decision=Decision(route=Route.AUTO_REPLY,
                                                                                  triage=None, confidence=1.0),
                                           evidence={}, actions=[action])


def _sent(state: FrontState, ticket_id: str) -> list[dict[str, Any]]:
    with state.lock:
        return [m for m in state.messages[ticket_id] if not m["is_inbound"]]


def _start(loop: Loop, clock: SimClock) -> tuple[str, int]:
    tid = loop.create("Export", "How can I export all my projects to CSV?")
    loop.sim.state.send_delay_s = DELAY_S  # from now on a sent message shows up 45 s after it was accepted
    loop.rt.sleep = clock.advance  # deskhand's waits pass simulator time, not wall time
    return tid, _reply_decision(loop, tid)


def _attempt(loop: Loop, decision_id: int) -> ProviderError | None:
    """Apply the decision once more: the error it ended with, if any (checked after the messages)."""
    try:
        effects.apply_decision(loop.rt, decision_id)
    except ProviderError as exc:
        return exc
    return None


def _settle_later(loop: Loop, clock: SimClock, tid: str) -> list[dict[str, Any]]:
    clock.advance(10 * DELAY_S)  # long after anything accepted could have appeared
    loop.sim.state.settle()
    return _sent(loop.sim.state, tid)


def test_a_reply_that_appears_after_the_wait_gave_up_is_not_sent_again(store: Store, settings: Settings) -> None:
    clock = SimClock()
    with sim_loop("front", store, settings, mode=None, knowledge=False,
                  state=FrontState(clock=clock, send_delay_s=0.0)) as loop:
        tid, did = _start(loop, clock)
        with pytest.raises(ProviderError, match="did not appear"):
            effects.apply_decision(loop.rt, did)  # accepted, but still invisible when the wait gives up
        (rec,) = loop.rt.store.actions_for(did)
        assert rec.status == effects.INTERRUPTED and _sent(loop.sim.state, tid) == []
        retry = _attempt(loop, did)  # the retry: the first message appears while it waits
        sent = _settle_later(loop, clock, tid)
        assert [m["text"] for m in sent] == [REPLY]  # the customer got the reply once
        assert retry is None, retry
        (rec,) = loop.rt.store.actions_for(did)
        assert rec.status == "done" and rec.result and rec.result["comment_id"] == sent[0]["id"], rec


def test_a_worker_dying_while_front_delivers_the_reply_leaves_no_second_reply(
        store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = SimClock()
    with sim_loop("front", store, settings, mode=None, knowledge=False,
                  state=FrontState(clock=clock, send_delay_s=0.0)) as loop:
        tid, did = _start(loop, clock)

        def die(_seconds: float) -> None:
            raise Killed

        loop.rt.sleep = die  # the worker is killed during its first pause waiting for the message
        with pytest.raises(Killed):
            effects.apply_decision(loop.rt, did)
        (rec,) = loop.rt.store.actions_for(did)
        assert rec.status == "started" and _sent(loop.sim.state, tid) == []
        monkeypatch.setattr(effects, "TAKEOVER_S", 0.0)  # the dead worker's action is old enough to take over
        clock.advance(DELAY_S / 2)  # ... some time later, the message still on its way
        loop.rt.sleep = clock.advance
        retry = _attempt(loop, did)
        assert [m["text"] for m in _settle_later(loop, clock, tid)] == [REPLY]
        assert retry is None, retry
        (rec,) = loop.rt.store.actions_for(did)
        assert rec.status == "done", rec
