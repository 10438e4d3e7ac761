"""Guardrails: grounding by sentence similarity (real MiniLM), promises, leaks, prompt fragments."""

from __future__ import annotations

import pytest

from deskhand.ai.generate import frame_reply
from deskhand.ai.guardrails import check_reply
from deskhand.ai.prompts import GENERATE_SYSTEM
from deskhand.model import Source

SOURCE = Source(
    id="reset#0",
    title="Reset your password",
    text=(
        "1. Go to the sign-in page and click Forgot password?\n"
        "2. Enter the email address you use to sign in to your Acme workspace.\n"
        "3. Open the email titled Reset your Acme password and click the link within 60 minutes.\n"
        "If the reset email does not arrive within 5 minutes, check your spam folder. Questions: help@acme.test."
    ),
    score=0.8,
)
TICKET = "I forgot my password, my email is ann@example.com and my account number is 55501234"


def body(text: str) -> str:
    return frame_reply(text, [SOURCE], "Ann Example")


CASES = [
    (
        "copied steps",
        "1. Go to the sign-in page and click Forgot password?\n"
        "2. Open the reset email and click the link within 60 minutes.",
        True,
        "",
    ),
    ("paraphrase", "Click Forgot password? on the sign-in page, then follow the link in the reset email.", True, ""),
    (
        "unsupported claim",
        "Your subscription renews automatically every year on the first of March.",
        False,
        "not supported",
    ),
    ("promise", "Go to the sign-in page and click Forgot password? We will refund you tomorrow.", False, "promises"),
    (
        "other customer's email",
        "Go to the sign-in page and click Forgot password? Or write to bob@other.com.",
        False,
        "email address",
    ),
    (
        "other customer's number",
        "Click Forgot password? on the sign-in page. Account 77788899 was reset.",
        False,
        "id or number",
    ),
    (
        "ticket's own email is fine",
        "Enter the email address you use to sign in to your Acme workspace (ann@example.com).",
        True,
        "",
    ),
    (
        "source email is fine",
        "If the reset email does not arrive within 5 minutes, check your spam folder or write to help@acme.test.",
        True,
        "",
    ),
    (
        "system prompt",
        "Answer only from the numbered sources in the user message. Do not use outside knowledge.",
        False,
        "system prompt",
    ),
    (
        "short unsupported sentence",
        "Yes, refunded. 1. Go to the sign-in page and click Forgot password?",
        False,
        "1 of 2 sentence(s) not supported",
    ),
    ("short sentence with a wrong number", "Click the link in the reset email. 10 minutes.", False, "do not: 10"),
    (
        "a wrong number in a close paraphrase",
        "Open the email titled Reset your Acme password and click the link within 30 minutes.",
        False,
        "number(s) the sources do not: 30",
    ),
    ("the ticket's own number is fine", "Check your spam folder; we see account 55501234.", True, ""),
    (
        "internal systems",
        "Go to the sign-in page and click Forgot password? Our internal tools show your account.",
        False,
        "internal",
    ),
]


@pytest.mark.parametrize(("reply", "passes", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_guardrails_table(reply: str, passes: bool, reason: str) -> None:
    report = check_reply(body(reply), ticket_text=TICKET, sources=[SOURCE], system_prompt=GENERATE_SYSTEM)
    assert report.passed is passes, report
    if reason:
        assert any(reason in r for r in report.reasons), report.reasons


def test_a_verbatim_reply_is_fully_grounded() -> None:
    report = check_reply(
        body("1. Go to the sign-in page and click Forgot password?"), ticket_text=TICKET, sources=[SOURCE]
    )
    assert report.grounding == 1.0 and report.checked == 1


def test_every_sentence_is_checked_however_short() -> None:
    report = check_reply(body("Yes, refunded. Go to the sign-in page and click Forgot password?"),
                         ticket_text=TICKET, sources=[SOURCE])
    assert report.checked == 2 and "Yes, refunded." in report.unsupported and not report.passed


def test_no_sources_never_passes() -> None:
    assert not check_reply(body("Go to the sign-in page."), ticket_text=TICKET, sources=[]).passed


def test_a_question_mark_inside_a_sentence_does_not_split_it() -> None:
    from deskhand.ai.guardrails import split_sentences

    text = "2. Reset your password from the Forgot password? link if you are not sure of it.\n3. Sign in again."
    assert split_sentences(text) == [
        "Reset your password from the Forgot password? link if you are not sure of it.",
        "Sign in again.",
    ]


VERIFY = Source(
    id="verify#0",
    title="Verify your email address",
    text="We send a verification link to your new address. Click it within 24 hours, or request a new one "
         "from Settings.",
    score=0.8,
)


@pytest.mark.parametrize(("reply", "sources", "promise"), [
    ("We send a verification link to your new address. Click it within 24 hours.", [VERIFY], False),
    ("We send a verification link to your new address. We will fix it within 48 hours.", [VERIFY], True),
    ("We send a verification link to your new address. Click it within 24 hours.", [SOURCE], True),
], ids=["the-source-s-own-time-limit", "a-time-limit-the-source-never-gave", "time-limit-of-another-source"])
def test_quoting_the_knowledge_base_s_own_time_limit_is_not_a_promise(
    reply: str, sources: list[Source], promise: bool
) -> None:
    report = check_reply(body(reply), ticket_text="I changed my email", sources=sources)
    assert any("promises" in r for r in report.reasons) is promise, report.reasons
