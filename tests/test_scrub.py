"""Personal data scrubbed from past tickets; solved tickets → problem/resolution pairs."""

from __future__ import annotations

import pytest

from deskhand.ai.scrub import luhn, resolved_pair, scrub
from deskhand.model import Comment, Contact, Status, Ticket, Visibility

CASES = [
    ("mail me at jane.doe+x@example.co.uk please", "jane.doe", "[email]"),
    ("card 4111 1111 1111 1111 charged twice", "4111", "[card]"),
    ("call +1 (415) 555-0132 today", "555-0132", "[phone]"),
    ("or 020 7946 0958 after six", "7946", "[phone]"),
    ("my account number: AB-99812 is locked", "AB-99812", "[number]"),
    ("order 12345678 never came", "12345678", "[number]"),
    ("ship to 221B Baker Street, London", "Baker Street", "[address]"),
    ("IBAN DE89 3704 0044 0532 0130 00", "3704", "[account]"),
    ("reset link https://app.example.com/reset?token=abc123", "abc123", "[url]"),
    ("Hi Sarah, thanks", "Sarah", "[name]"),
    ("my name is Jane Doe and", "Jane", "[name]"),
]


@pytest.mark.parametrize(("text", "secret", "placeholder"), CASES)
def test_personal_data_is_replaced(text: str, secret: str, placeholder: str) -> None:
    out = scrub(text)
    assert secret not in out and placeholder in out


@pytest.mark.parametrize("text", ["error 404 on version 1.2.3", "on 2024-11-25 the export failed", "Hi there, thanks"])
def test_ordinary_text_is_kept(text: str) -> None:
    assert scrub(text) == text


def test_known_names_are_removed_whole_and_by_part() -> None:
    assert scrub("Jane Doe wrote; later Doe called", names=["Jane Doe"]) == "[name] wrote; later [name] called"


def test_card_numbers_need_a_valid_luhn_checksum() -> None:
    assert luhn("4111111111111111") and not luhn("4111111111111112")
    assert "[card]" not in scrub("ref 1234 5678 9012 3456")


def ticket(status: Status, comments: list[Comment]) -> Ticket:
    return Ticket(
        id="42", subject="Refund for order 98765432", description="Hi, I'm Jane Doe, jane@example.com, refund please",
        status=status, raw_status=status.value, requester=Contact(id="c1", name="Jane Doe", email="jane@example.com"),
        comments=tuple(comments), url="https://x.zendesk.com/agent/tickets/42",
    )


def c(i: int, author: str, body: str, public: bool = True) -> Comment:
    return Comment(id=str(i), ticket_id="42", body=body, author_id=author,
                   visibility=Visibility.PUBLIC if public else Visibility.INTERNAL)


def test_pair_keeps_human_public_answers_and_drops_bots_notes_and_personal_data() -> None:
    pair = resolved_pair(
        ticket(Status.SOLVED, [
            c(1, "c1", "Hi, I'm Jane Doe, jane@example.com, refund please"),
            c(2, "bot", "Automated: here is an article"),
            c(3, "a1", "Internal: customer is VIP, phone 415 555 0132", public=False),
            c(4, "c1", "Also my card 4111 1111 1111 1111 was charged twice. It happened twice this month."),
            c(5, "a1", "Hi Jane, I refunded the duplicate charge; it shows in 5 days. Thanks, Mark"),
        ]),
        staff_ids={"a1", "bot"}, bot_ids={"bot"}, names=["Mark"],
    )
    assert pair is not None
    text = pair.text
    assert "refunded the duplicate charge" in pair.resolution and "Automated" not in text and "VIP" not in text
    assert "happened twice this month" in pair.problem  # sentences with personal data are dropped whole
    for secret in ("Jane", "Doe", "jane@example.com", "4111", "98765432", "Mark"):
        assert secret not in text and secret not in pair.title


@pytest.mark.parametrize("status", [Status.OPEN, Status.PENDING, Status.NEW])
def test_unsolved_tickets_give_no_pair(status: Status) -> None:
    assert resolved_pair(ticket(status, [c(5, "a1", "answer")]), staff_ids={"a1"}) is None


def test_a_ticket_only_a_bot_answered_gives_no_pair() -> None:
    assert resolved_pair(ticket(Status.SOLVED, [c(2, "bot", "auto")]), staff_ids={"bot"}, bot_ids={"bot"}) is None
