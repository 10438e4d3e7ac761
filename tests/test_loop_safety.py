"""Loop and thread safety: echoes, auto-replies / out-of-office, one reply per message, human threads."""

from __future__ import annotations

import dataclasses

import pytest

from deskhand.model import Comment, Contact, Status, Ticket, Visibility
from deskhand.responder.loopguard import answered_after, auto_reply_reason, is_echo, screen
from deskhand.settings import Settings
from deskhand.store import Store
from deskhand.testing.loop import sim_loop

AUTO_REPLIES = [
    ("", "I am currently out of the office until Monday 3 June with limited access to email. For urgent "
         "matters please contact support@acme.example.", {}),
    ("Automatic reply: Re: Password reset", "Thanks for your message.", {}),
    ("", "Thank you for your email. This is an automated response: we received your message.", {}),
    ("", "Hello, I'm on parental leave until September. Please reach out to my colleague Jan.", {}),
    ("Abwesenheitsnotiz", "Ich bin bis zum 12.08. nicht im Büro.", {}),
    ("", "Je suis absente jusqu'au 5 mai.", {}),
    ("", "Thanks!", {"Auto-Submitted": "auto-replied"}),
    ("", "Thanks!", {"X-Autoreply": "yes"}),
    ("", "Thanks!", {"Precedence": "auto_reply"}),
    ("Undeliverable: Your ticket #1234", "Delivery has failed to these recipients or groups.", {}),
]
PEOPLE = [
    ("", "I was out of the office last week and now I can't log in. How do I reset my password?", {}),
    ("", "Thanks, that worked!", {}),
    ("Re: refund", "I'm travelling next week, can you refund the duplicate charge before then?", {}),
    ("", "Our office is closed on Friday, will the export still run?", {}),
    ("", "Thanks!", {"Auto-Submitted": "no"}),
]


@pytest.mark.parametrize(("subject", "body", "headers"), AUTO_REPLIES,
                         ids=[f"auto-{i}" for i in range(len(AUTO_REPLIES))])
def test_auto_replies_are_recognised(subject: str, body: str, headers: dict[str, str]) -> None:
    assert auto_reply_reason(subject, body, headers)


@pytest.mark.parametrize(("subject", "body", "headers"), PEOPLE, ids=[f"person-{i}" for i in range(len(PEOPLE))])
def test_people_are_not_mistaken_for_auto_replies(subject: str, body: str, headers: dict[str, str]) -> None:
    assert auto_reply_reason(subject, body, headers) is None


def _c(cid: str, author: str, body: str = "x", public: bool = True) -> Comment:
    return Comment(id=cid, ticket_id="1", body=body, author_id=author,
                   visibility=Visibility.PUBLIC if public else Visibility.INTERNAL)


def test_a_message_we_already_answered_is_not_answered_again() -> None:
    t = Ticket(id="1", subject="s", description="q", status=Status.OPEN, raw_status="open",
               requester=Contact(id="cust"), comments=(_c("1", "cust"), _c("2", "cust"), _c("3", "bot")))
    assert answered_after(t, t.comments[1], "bot")
    assert screen(t, None, "bot")  # the opening message too
    t2 = Ticket(id="1", subject="s", description="q", status=Status.OPEN, raw_status="open",
                requester=Contact(id="cust"), comments=(_c("1", "cust"), _c("2", "bot", public=False), _c("3", "cust")))
    assert answered_after(t2, t2.comments[2], "bot") is None
    assert answered_after(t2, t2.comments[0], "bot") is None  # an internal draft is no answer


def test_echo_is_recognised_by_text_whatever_the_author() -> None:
    assert is_echo("Hi Ann,\n\nReset it  here.", ["Hi Ann, Reset it here."])
    assert not is_echo("Reset it here please", ["Hi Ann, Reset it here."])


PASSWORD = ("How do I reset my password?", "I forgot my password and cannot sign in. How do I reset it?")


def test_loopback_echoes_ooo_and_human_threads_never_get_an_automatic_reply(store: Store, settings: Settings) -> None:
    with sim_loop("zendesk", store, settings, mode="auto") as loop:
        answered = loop.create(*PASSWORD)
        human = loop.create(*PASSWORD)
        loop.drain()
        assert len(loop.own_comments(answered)) == 1  # our reply, and its echo ignored
        echoes = [d for d in loop.decisions(answered) if d["route"] == "ignore"]
        assert echoes and all("own comment" in d["reasons"][-1] or "echo" in d["reasons"][-1] for d in echoes)
        loop.customer_says(answered, "I'm out of the office until Monday with limited access to email.")
        loop.agent_says(human, "Hi Ann, I'm looking into this for you.")
        loop.customer_says(human, "How do I reset my password? The link does not arrive.")
        loop.drain()
        assert len(loop.own_comments(answered)) == 1  # no answer to the out-of-office notice
        assert "auto-reply" in loop.decisions(answered)[-1]["reasons"][-1]
        last = [d for d in loop.decisions(human) if d["route"] != "ignore"][-1]
        assert last["route"] == "human" and "human_already_replied" in last["rules"]
        assert all(c.visibility.value == "internal" for c in loop.own_comments(human)[1:])


def test_a_redelivered_customer_message_gets_one_automatic_reply(store: Store, settings: Settings) -> None:
    from deskhand.responder.handle import handle_event

    with sim_loop("zendesk", store, settings, mode="auto") as loop:
        tid = loop.create(*PASSWORD)
        loop.drain()
        first = [d for d in loop.decisions(tid) if d["route"] == "auto_reply"]
        assert len(first) == 1
        # the same ticket_created arriving again under another delivery id (a second webhook, a sync)
        created = next(e for e in store.list_events()
                       if e.event.ticket_id == tid and e.event.kind.value == "ticket_created")

        with store.transaction() as conn:
            again = store.record_event(conn, "default", dataclasses.replace(created.event, delivery_id="again"))
        assert again is not None
        handle_event(loop.rt, again)
        loop.drain()
        assert len([d for d in loop.decisions(tid) if d["route"] == "auto_reply"]) == 1
        assert len(loop.own_comments(tid)) == 1
