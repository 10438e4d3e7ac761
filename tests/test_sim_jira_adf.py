"""The Jira simulator's own ADF renderings (deskhand.sim.jira_adf), written from Atlassian's
documentation of ADF nodes/marks and of wiki markup — and checked against deskhand's independent
converter (deskhand.providers.hooks.jira_adf / jira_wiki): a bug in one shows against the other."""

from __future__ import annotations

from typing import Any

import pytest

from deskhand.providers.hooks import jira_adf as deskhand_adf
from deskhand.providers.hooks import jira_wiki as deskhand_wiki
from deskhand.sim.jira_adf import adf_to_text, adf_to_wiki, text_to_adf, wiki_to_adf


def doc(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": list(content)}


def para(*inline: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(inline)}


def text(value: str, *marks: str, href: str | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": value}
    kinds = [{"type": m} for m in marks] + ([{"type": "link", "attrs": {"href": href}}] if href else [])
    if kinds:
        node["marks"] = kinds
    return node


def items(kind: str, *texts: str) -> dict[str, Any]:
    return {"type": kind, "content": [{"type": "listItem", "content": [para(text(t))]} for t in texts]}


# (ADF document, wiki markup Jira's REST v2 shows for it)
WIKI = [
    pytest.param(doc(para(text("Hello "), text("world", "strong"))), "Hello *world*", id="strong"),
    pytest.param(doc(para(text("a", "em"), text(" "), text("b", "strike"), text(" "), text("c", "code"))),
                 "_a_ -b- {{c}}", id="em-strike-code"),
    pytest.param(doc(para(text("docs", href="https://x.test/d"))), "[docs|https://x.test/d]", id="link"),
    pytest.param(doc({"type": "heading", "attrs": {"level": 2}, "content": [text("Steps")]}), "h2. Steps",
                 id="heading"),
    pytest.param(doc(items("bulletList", "one", "two")), "* one\n* two", id="bullets"),
    pytest.param(doc(items("orderedList", "first", "second")), "# first\n# second", id="numbered"),
    pytest.param(doc({"type": "codeBlock", "attrs": {"language": "python"}, "content": [text("x = 1")]}),
                 "{code:python}\nx = 1\n{code}", id="code-block"),
    pytest.param(doc({"type": "rule"}), "----", id="rule"),
    pytest.param(doc(para(text("line 1"), {"type": "hardBreak"}, text("line 2")), para(text("next"))),
                 "line 1\nline 2\n\nnext", id="break-and-paragraphs"),
    pytest.param(doc(para({"type": "mention", "attrs": {"id": "557058:abc", "text": "@Ann"}})),
                 "[~accountid:557058:abc]", id="mention"),
]


@pytest.mark.parametrize(("adf", "wiki"), WIKI)
def test_adf_renders_as_the_wiki_markup_jira_documents(adf: dict[str, Any], wiki: str) -> None:
    assert adf_to_wiki(adf) == wiki


@pytest.mark.parametrize(("adf", "wiki"), [p for p in WIKI if p.id not in ("mention",)])
def test_wiki_markup_parses_back_to_the_same_document(adf: dict[str, Any], wiki: str) -> None:
    assert adf_to_wiki(wiki_to_adf(wiki)) == wiki


@pytest.mark.parametrize(("adf", "plain"), [
    pytest.param(doc(para(text("Hi "), text("there", "strong"))), "Hi there", id="marks-dropped"),
    pytest.param(doc(para(text("a")), para(text("b"))), "a\n\nb", id="paragraphs"),
    pytest.param(doc(items("bulletList", "x", "y")), "- x\n- y", id="bullets"),
    pytest.param(doc(para({"type": "mention", "attrs": {"id": "1", "text": "@Ann"}}, text(" hi"))), "@Ann hi",
                 id="mention"),
    pytest.param(doc(para({"type": "emoji", "attrs": {"shortName": ":smile:", "text": "😄"}})), "😄", id="emoji"),
    pytest.param(doc(para({"type": "inlineCard", "attrs": {"url": "https://x.test"}})), "https://x.test", id="card"),
    pytest.param(None, "", id="none"),
    pytest.param({"type": "doc", "content": [{"type": "mystery", "content": [text("kept")]}]}, "kept",
                 id="unknown-node-keeps-its-text"),
])
def test_adf_reads_as_plain_text(adf: Any, plain: str) -> None:
    assert adf_to_text(adf) == plain


def test_plain_text_becomes_paragraphs_with_hard_breaks() -> None:
    assert text_to_adf("one\ntwo\n\nthree") == doc(
        para(text("one"), {"type": "hardBreak"}, text("two")), para(text("three")))


REPLIES = [
    "Hi Ann,\n\nReset it from **Settings > Security**.\n\nThanks",
    "Steps:\n\n- open the app\n- tap *Forgot password*\n\nSee [the guide](https://help.example/reset).",
    "Use `deskhand sync` then:\n\n1. check\n2. retry",
    "Plain line one\nline two",
]


@pytest.mark.parametrize("reply", REPLIES, ids=["bold", "list-link", "code-numbered", "lines"])
def test_a_reply_survives_deskhand_to_jira_wiki_and_back(reply: str) -> None:
    # deskhand writes ADF (v3); Jira's webhooks carry wiki markup (the simulator's rendering), which
    # deskhand reads back: two independent implementations must agree on what the customer sees
    # (compared as documents: "1. a / 1. b" and "1. a / 2. b" are the same markdown list)
    sent = deskhand_adf.text_to_adf(reply)
    assert deskhand_adf.text_to_adf(deskhand_wiki.wiki_to_text(adf_to_wiki(sent))) == sent


@pytest.mark.parametrize("reply", REPLIES, ids=["bold", "list-link", "code-numbered", "lines"])
def test_the_simulators_plain_text_of_a_reply_has_the_words_deskhand_wrote(reply: str) -> None:
    words = [w for w in deskhand_adf.adf_to_text(deskhand_adf.text_to_adf(reply)).split() if w.isalpha()]
    plain = adf_to_text(deskhand_adf.text_to_adf(reply))
    assert all(w in plain for w in words)
