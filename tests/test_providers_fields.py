"""deskhand.providers.fields: dotted paths, value maps, whole-value placeholder filling."""

from __future__ import annotations

from typing import Any

import pytest

from deskhand.providers.fields import Rule, fill, get_path, map_key, set_path

DOC = {
    "meta": {"has_more": False, "count": 0},
    "links": {"next": "https://x/api?page=2"},
    "audit": {"events": [{"type": "Change", "id": 1}, {"type": "Comment", "id": 42}]},
    "items": [{"name": "a"}, {"name": "b"}],
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("links.next", "https://x/api?page=2"),
        ("meta.has_more", False),
        ("meta.count", 0),
        ("items.1.name", "b"),
        ("items.-1.name", "b"),
        ("items.5.name", None),
        ("audit.events[type=Comment].id", 42),
        ("audit.events[type=Nope].id", None),
        ("meta.missing.deeper", None),
        ("", DOC),
    ],
    ids=[
        "nested",
        "false-kept",
        "zero-kept",
        "index",
        "negative-index",
        "index-out-of-range",
        "selector",
        "selector-miss",
        "absent",
        "empty-path-is-root",
    ],
)
def test_get_path_reads_dotted_paths(path: str, expected: Any) -> None:
    assert get_path(DOC, path) == expected


def test_set_path_creates_parents() -> None:
    body: dict[str, Any] = {"variables": {"first": 50}}
    set_path(body, "variables.after", "abc")
    set_path(body, "a.b.c", 1)
    assert body == {"variables": {"first": 50, "after": "abc"}, "a": {"b": {"c": 1}}}


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("{tags}", {"tags": ["a", "b"]}, ["a", "b"]),
        ({"n": "{n}"}, {"n": 7}, {"n": 7}),
        ("{email}/token", {"email": "a@b.c"}, "a@b.c/token"),
        (
            {"ticket": {"group_id": "{team_id}", "assignee_id": "{user_id}"}},
            {"user_id": 5},
            {"ticket": {"assignee_id": 5}},
        ),
        ({"t": {"requester": {"name": "{n}", "email": "{e}"}, "s": "x"}}, {}, {"t": {"s": "x"}}),
        ({"public": True, "list": ["{a}", "{b}"]}, {"a": 1}, {"public": True, "list": [1]}),
        ({"empty": {}}, {}, {"empty": {}}),
        ("{a.b}", {"a": {"b": 3}}, 3),
    ],
    ids=[
        "whole-value-keeps-type",
        "int-kept",
        "partial-is-formatted",
        "missing-drops-key",
        "emptied-dict-dropped",
        "lists-and-constants",
        "literal-empty-dict-kept",
        "dotted-name",
    ],
)
def test_fill_replaces_whole_values_and_drops_missing(template: Any, values: dict[str, Any], expected: Any) -> None:
    assert fill(template, values) == expected


def test_fill_partial_placeholder_without_value_names_it() -> None:
    with pytest.raises(KeyError, match="email"):
        fill("{email}/token", {})




@pytest.mark.parametrize(
    ("value", "key"),
    [(True, "true"), (False, "false"), (None, "null"), (3, "3"), ("hold", "hold")],
    ids=["true", "false", "none", "int", "str"],
)
def test_map_key_spells_values_like_yaml(value: Any, key: str) -> None:
    assert map_key(value) == key


@pytest.mark.parametrize(
    ("rule", "record", "expected"),
    [
        (Rule("status", map={"hold": "on_hold"}), {"status": "hold"}, "on_hold"),
        (Rule("status", map={"hold": "on_hold"}, default="open"), {"status": "custom"}, "open"),
        (Rule("public", map={"true": "public", "false": "internal"}), {"public": False}, "internal"),
        (Rule("labels", each="name"), {"labels": [{"name": "a"}, {"name": "b"}]}, ["a", "b"]),
        (Rule("x", default="d"), {}, "d"),
        (Rule(value="const"), {}, "const"),
        (Rule("body", hook=str.upper), {"body": "hi"}, "HI"),
    ],
    ids=["map", "map-miss-default", "bool-map", "each", "default", "constant", "hook"],
)
def test_rule_reads_a_field(rule: Rule, record: dict[str, Any], expected: Any) -> None:
    assert rule.read(record) == expected
