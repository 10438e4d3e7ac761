from __future__ import annotations

from deskhand.model import Source
from deskhand.responder.compose import compose_reply, extract

STEPS = Source(
    id="kb/reset.md",
    title="Reset your password",
    score=0.9,
    url="https://help.example/reset",
    text="# Reset your password\n\nIf you forgot it:\n\n1. Click **Forgot password?**\n2. Enter your email.\n"
    "3. Open the link.\n",
)
PROSE = Source(
    id="kb/refunds.md",
    title="Refunds",
    score=0.8,
    text="Duplicate charges are usually pending authorisations. Banks release them in 3 to 5 days. "
    "Annual plans cancelled within 30 days are refunded. Our office has a nice view.",
)


def test_lists_of_steps_are_kept_whole_and_numbered() -> None:
    reply = compose_reply("how do I reset my password", [STEPS], customer_name="Maria Lopez")
    assert reply is not None
    assert reply.startswith("Hi Maria,")
    assert "1. Click Forgot password?\n2. Enter your email.\n3. Open the link." in reply
    assert "[1] Reset your password — https://help.example/reset" in reply


def test_prose_keeps_the_sentences_that_match_the_question_in_source_order() -> None:
    lines, is_list = extract("I was charged twice, duplicate charges?", PROSE)
    assert not is_list
    assert lines[0].startswith("Duplicate charges")
    assert "nice view" not in " ".join(lines)


def test_every_line_of_the_answer_comes_from_the_source() -> None:
    reply = compose_reply("duplicate charge refund", [PROSE])
    assert reply is not None
    body = reply.split("[1]:", 1)[1].split("If this does not")[0]
    for sentence in filter(None, (s.strip() for s in body.replace("\n", " ").split(". "))):
        assert sentence.rstrip(".") in PROSE.text


def test_no_sources_no_reply() -> None:
    assert compose_reply("anything", []) is None
