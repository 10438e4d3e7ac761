"""ADF <-> text: round trips for the supported subset, real-shaped documents, and no crashes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from deskhand.providers.hooks.jira_adf import adf_to_text, text_to_adf
from deskhand.providers.hooks.jira_wiki import text_to_wiki, wiki_to_text

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DESKHAND_SHARED_DIR") or REPO.parent / "shared")

ROUND_TRIPS = {
    "plain": "Hello, thanks for writing in.",
    "lines_become_hard_breaks": "Hi Ann,\nwe reset it.\nBest, Bo",
    "headings": "# One\n\n## Two\n\n###### Six",
    "marks": "a **bold** *em* `code` ~~gone~~ [docs](https://example.com/x?a=1) end",
    "code_link": "see [`cfg.yml`](https://example.com)",
    "bullets_nested": "- a\n  - b\n    - c\n- d",
    "ordered_from_3": "3. x\n4. y\n   1. z",
    "mixed_lists": "1. step\n   - detail\n2. next",
    "loose_item": "- first para\n\n  second para\n- next",
    "code_block": "```python\ndef f():\n    return 1\n```",
    "code_block_no_lang": "```\nplain\n```",
    "code_in_list": "- run:\n\n  ```sh\n  make\n  ```",
    "blockquote": "> quoted\n> more\n>\n> - item",
    "rule": "above\n\n---\n\nbelow",
    "table": "| a | b |\n| --- | --- |\n| c | d |",
}


@pytest.mark.parametrize("text", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_text_survives_adf_round_trip(text: str) -> None:
    assert adf_to_text(text_to_adf(text)) == text


@pytest.mark.parametrize("text", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_adf_survives_text_round_trip(text: str) -> None:
    doc = text_to_adf(text)
    assert text_to_adf(adf_to_text(doc)) == doc


NORMALISED = {
    "star_bullets": ("* a\n* b", "- a\n- b"),
    "underscore_em": ("_x_ and __y__", "*x* and **y**"),
    "setext_heading": ("Title\n=====", "# Title"),
    "unclosed_delimiters_stay_literal": ("2*3 = 6 and **bold **x", "2*3 = 6 and **bold **x"),
}


@pytest.mark.parametrize(("text", "expected"), NORMALISED.values(), ids=NORMALISED.keys())
def test_text_is_normalised_then_stable(text: str, expected: str) -> None:
    once = adf_to_text(text_to_adf(text))
    assert once == expected
    assert adf_to_text(text_to_adf(once)) == once


def test_text_to_adf_builds_valid_shapes() -> None:
    doc = text_to_adf("# T\n\n- a **b**\n\n```js\nx\n```\n\nline\nbreak")
    assert doc["type"] == "doc" and doc["version"] == 1
    heading, bullets, code, para = doc["content"]
    assert heading == {"type": "heading", "attrs": {"level": 1}, "content": [{"type": "text", "text": "T"}]}
    item = bullets["content"][0]
    assert item["type"] == "listItem" and item["content"][0]["type"] == "paragraph"
    assert item["content"][0]["content"][1] == {"type": "text", "text": "b", "marks": [{"type": "strong"}]}
    assert code == {"type": "codeBlock", "attrs": {"language": "js"}, "content": [_t("x")]}
    assert [n["type"] for n in para["content"]] == ["text", "hardBreak", "text"]


def test_spaces_inside_marked_text_move_outside_the_delimiters() -> None:
    doc = _doc(_p(_t("bold ", {"type": "strong"}), _t("x")))
    assert adf_to_text(doc) == "**bold** x"


def test_empty_text_is_an_empty_doc() -> None:
    assert text_to_adf("") == {"type": "doc", "version": 1, "content": []}
    assert adf_to_text(text_to_adf("")) == ""


def _p(*inline: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(inline)}


def _t(text: str, *marks: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = list(marks)
    return node


def _doc(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "type": "doc", "content": list(blocks)}


# Documents shaped like those Jira and the Atlassian renderer fixtures hold (mentions carry their
# display text in attrs.text, emoji a shortName + unicode text, dates a millisecond string, ...).
REAL_SHAPED = {
    "mention_emoji": (
        _doc(_p({"type": "mention", "attrs": {"id": "5b10a2844c20165700ede21g", "text": "@Ann Lee",
                                               "accessLevel": ""}},
                _t(" can you check "),
                {"type": "emoji", "attrs": {"shortName": ":grinning:", "id": "1f600", "text": "😀"}})),
        "@Ann Lee can you check 😀",
    ),
    "mention_without_text": (
        _doc(_p({"type": "mention", "attrs": {"id": "abc"}})),
        "@abc",
    ),
    "status_date_inline_card": (
        _doc(_p({"type": "status", "attrs": {"text": "BLOCKED", "color": "red", "localId": "x"}},
                _t(" since "),
                {"type": "date", "attrs": {"timestamp": "1616371200000"}}, _t(" see "),
                {"type": "inlineCard", "attrs": {"url": "https://acme.atlassian.net/browse/SUP-1"}})),
        "[BLOCKED] since 2021-03-22 see https://acme.atlassian.net/browse/SUP-1",
    ),
    "panel_and_heading_emoji": (
        _doc({"type": "heading", "attrs": {"level": 2},
              "content": [_t("heading 2 "), {"type": "emoji", "attrs": {"shortName": ":smile:"}}]},
             {"type": "panel", "attrs": {"panelType": "info"}, "content": [_p(_t("Maintenance tonight"))]}),
        "## heading 2 :smile:\n\nMaintenance tonight",
    ),
    "table_with_annotation_and_empty_cells": (
        _doc(_p(), {"type": "table", "attrs": {"isNumberColumnEnabled": False, "layout": "default"},
                    "content": [
                        {"type": "tableRow", "content": [
                            {"type": "tableHeader", "attrs": {},
                             "content": [_p(_t("Inside", {"type": "strong"}))]},
                            {"type": "tableHeader", "attrs": {}, "content": [
                                _p(_t("noted", {"type": "annotation", "attrs": {"id": "a-1"}}))]}]},
                        {"type": "tableRow", "content": [
                            {"type": "tableCell", "attrs": {}, "content": [_p()]},
                            {"type": "tableCell", "attrs": {}, "content": [_p(_t("a|b"))]}]}]}),
        "| **Inside** | noted |\n| --- | --- |\n|  | a\\|b |",
    ),
    "media_single_with_link_mark": (
        _doc({"type": "mediaSingle", "attrs": {"width": 50, "layout": "center"},
              "content": [{"type": "media", "attrs": {"id": "5556346b", "type": "file", "collection": "c",
                                                      "width": 2287, "height": 1829}}],
              "marks": [{"type": "link", "attrs": {"href": "https://atlassian.com/"}}]},
             {"type": "mediaGroup", "content": [{"type": "media", "attrs": {"type": "external",
                                                                            "url": "https://x.io/a.png"}}]}),
        "[attachment: 5556346b]\n\nhttps://x.io/a.png",
    ),
    "hard_breaks_in_list": (
        _doc({"type": "bulletList", "content": [
            {"type": "listItem", "content": [_p(_t("one"), {"type": "hardBreak"}, _t("two"))]}]}),
        "- one\n  two",
    ),
    "task_list_and_expand": (
        _doc({"type": "taskList", "attrs": {"localId": "t"}, "content": [
                {"type": "taskItem", "attrs": {"localId": "1", "state": "DONE"}, "content": [_t("shipped")]},
                {"type": "taskItem", "attrs": {"localId": "2", "state": "TODO"}, "content": [_t("docs")]}]},
             {"type": "expand", "attrs": {"title": "Logs"}, "content": [
                 {"type": "codeBlock", "content": [_t("E: boom")]}]}),
        "- [x] shipped\n- [ ] docs\n\nLogs\n\n```\nE: boom\n```",
    ),
    "block_cards_and_rule": (
        _doc({"type": "blockCard", "attrs": {"url": "https://blockCardTestUrl"}}, {"type": "rule"},
             {"type": "embedCard", "attrs": {"url": "https://embed", "layout": "center"}}),
        "https://blockCardTestUrl\n\n---\n\nhttps://embed",
    ),
    "unknown_nodes_degrade_to_text": (
        _doc({"type": "futureBlock", "attrs": {"x": 1}, "content": [_p(_t("inside"))]},
             _p({"type": "futureInline", "text": "inline"}, {"type": "placeholder", "attrs": {"text": "x"}}),
             {"type": "extension", "attrs": {"extensionKey": "k"}}),
        "inside\n\ninline",
    ),
}


@pytest.mark.parametrize(("doc", "expected"), REAL_SHAPED.values(), ids=REAL_SHAPED.keys())
def test_real_shaped_documents_render_readably(doc: dict[str, Any], expected: str) -> None:
    assert adf_to_text(doc) == expected


GARBAGE = {
    "none": None,
    "string": "already text",
    "list": [1, 2],
    "no_content": {"type": "doc"},
    "content_not_list": {"type": "doc", "content": "x"},
    "junk_children": {"type": "doc", "content": [1, None, "s", {"type": "paragraph", "content": [None, 3]}]},
    "bad_attrs": {"type": "doc", "content": [{"type": "heading", "attrs": {"level": "x"}},
                                             {"type": "date", "attrs": {"timestamp": "soon"}},
                                             {"type": "orderedList", "attrs": "no", "content": [{}]}]},
    "inline_root": {"type": "text", "text": "bare", "marks": "nope"},
}


@pytest.mark.parametrize("doc", GARBAGE.values(), ids=GARBAGE.keys())
def test_malformed_input_never_raises(doc: Any) -> None:
    assert isinstance(adf_to_text(doc), str)


def test_shared_jira_webhook_fixture_description_is_readable() -> None:
    payload = json.loads((SHARED / "fixtures/zulip/jira_issue_created.json").read_text())
    # This fixture comes from a v2 (server) webhook: description is a plain string, which passes through.
    assert adf_to_text(payload["issue"]["fields"]["description"]) == "Fix me please"


WIKI = {
    "heading_marks_link": ("h2. Hi\n\n*b* _i_ {{c}} [docs|https://x.io]", "## Hi\n\n**b** *i* `c` [docs](https://x.io)"),
    "lists": ("* a\n** b\n# one", "- a\n   - b\n1. one"),
    "code": ("{code:java}\nint x;\n{code}", "```java\nint x;\n```"),
    "snake_case_untouched": ("call my_func_name now", "call my_func_name now"),
}


@pytest.mark.parametrize(("wiki", "text"), WIKI.values(), ids=WIKI.keys())
def test_wiki_to_text_maps_common_markup(wiki: str, text: str) -> None:
    assert wiki_to_text(wiki) == text


@pytest.mark.parametrize("text", [ROUND_TRIPS[k] for k in ("plain", "headings", "marks", "code_block",
                                                             "bullets_nested", "rule")])
def test_text_survives_wiki_round_trip(text: str) -> None:
    assert adf_to_text(text_to_adf(wiki_to_text(text_to_wiki(text)))) == text
