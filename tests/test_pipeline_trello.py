"""End to end over loopback with Trello: the simulator's board webhook (signed over body + callback
URL) → gateway → queue → worker → write-back read from the simulator. Real SQLite, real HTTP, the
real offline models. Cards are raised by the "Intake" member (an email-to-board channel)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deskhand.model import Status, Visibility
from deskhand.settings import Settings
from deskhand.store import Store
from deskhand.testing.loop import Loop, sim_loop

PASSWORD = ("How do I reset my password?", "I forgot my password and cannot sign in. How do I reset it?")


@pytest.fixture
def auto(store: Store, settings: Settings) -> Iterator[Loop]:
    with sim_loop("trello", store, settings, mode="auto") as loop:
        yield loop


@pytest.fixture
def draft(store: Store, settings: Settings) -> Iterator[Loop]:
    with sim_loop("trello", store, settings, mode="draft") as loop:
        yield loop


def _decision(loop: Loop, tid: str) -> dict:
    (d,) = [d for d in loop.decisions(tid) if d["route"] != "ignore"]
    return d


def test_an_auto_reply_is_a_comment_and_the_card_moves_to_the_pending_list(auto: Loop) -> None:
    tid = auto.create(*PASSWORD)
    auto.drain()
    assert _decision(auto, tid)["route"] == "auto_reply"
    (reply,) = auto.own_comments(tid)
    assert reply.visibility is Visibility.PUBLIC and "Forgot password" in reply.body
    card = auto.sim.state.cards[tid]
    assert auto.sim.state.lists[card["idList"]]["name"] == "Waiting on customer" and not card["closed"]
    assert auto.customer.get_ticket(tid, with_comments=False).status is Status.PENDING


def test_a_draft_waits_in_the_review_queue_and_nothing_is_written_on_the_card(draft: Loop) -> None:
    tid = draft.create(*PASSWORD)
    draft.drain()
    assert _decision(draft, tid)["route"] == "draft"
    assert draft.sim.state.comments(tid) == []  # Trello has no internal notes: no comment at all
    card = draft.sim.state.cards[tid]
    assert draft.sim.state.lists[card["idList"]]["name"] == "New"


def test_an_angry_outage_goes_to_a_human_with_the_escalation_label_and_no_comment(auto: Loop) -> None:
    tid = auto.create("Everything is down!!!", "Your service has been DOWN for an hour, this is unacceptable, "
                                              "we are losing money. Fix it NOW or we cancel.")
    auto.drain()
    assert _decision(auto, tid)["route"] == "human"
    card = auto.sim.state.cards[tid]
    assert [lb["name"] for lb in card["labels"]] == ["deskhand_escalated"]  # the escalation tag, as a label
    assert auto.sim.state.comments(tid) == []


def test_the_gateway_answers_trellos_head_check_so_a_webhook_can_be_created(auto: Loop) -> None:
    import httpx

    from deskhand.sim.trello import DEFAULT_KEY, DEFAULT_TOKEN

    board = next(iter(auto.sim.state.boards))
    callback = f"{auto.gateway_url}/webhooks/trello/acme"
    with auto.sim.state.lock:
        auto.sim.state.webhooks.clear()  # the one the loop made without the check
    made = httpx.post(f"{auto.sim.url}/1/webhooks", params={"key": DEFAULT_KEY, "token": DEFAULT_TOKEN},
                      json={"callbackURL": callback, "idModel": board, "description": "again"}, timeout=30)
    assert made.status_code == 200, made.text
    unknown = httpx.post(f"{auto.sim.url}/1/webhooks", params={"key": DEFAULT_KEY, "token": DEFAULT_TOKEN},
                         json={"callbackURL": f"{auto.gateway_url}/webhooks/trello/nobody", "idModel": board},
                         timeout=30)
    assert unknown.status_code == 400 and "did not return 200" in unknown.text  # no such account: no 200
    tid = auto.create(*PASSWORD)  # deliveries of the webhook made through the API reach deskhand
    assert auto.events(tid, "ticket_created") == 1
