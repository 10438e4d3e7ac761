"""deskhand.providers.overrides: per-account values of a definition's declared arguments, checked
when set, filling templates and extending value maps (both ways)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from deskhand.errors import ConfigError
from deskhand.model import Action, ActionKind, Status
from deskhand.providers.auth import build_auth
from deskhand.providers.client import ProviderHTTP
from deskhand.providers.connector import Connector, resolve_values
from deskhand.providers.definition import ProviderDefinition, read_definition
from deskhand.providers.overrides import merge, parse_sets, resolve

STATUSES = ["new", "open", "pending", "on_hold", "solved", "closed"]
DEFINITION: dict[str, Any] = {
    "name": "boards",
    "root": "https://boards.test",
    "connection": {"token": {"secret": True}},
    "auth": {"type": "bearer", "token": "{token}"},
    "overrides": {
        "board": {"help": "the board tickets live on", "pattern": "^[a-f0-9]+$", "default": "b0"},
        "status": {"keys": STATUSES, "default": {"open": "l-open", "solved": "l-done"},
                   "help": "the list id of each status"},
    },
    "resources": {"ticket": {
        "get": "GET /boards/{board}/cards/{ticket_id}",
        "fields": {"id": "id", "subject": "name", "status": {"path": "idList", "reverse_overrides": "status",
                                                             "default": "open"}},
    }},
    "actions": {"set_status": {"call": "PUT /cards/{ticket_id}", "json": {"idList": "{status}"},
                               "args": {"status": {"required": True, "overrides": "status"}}}},
}
SPECS = ProviderDefinition.model_validate(DEFINITION).overrides


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["board=abc"], {"board": "abc"}),
        (["status.pending=l-wait", "status.on_hold=l-hold"], {"status": {"pending": "l-wait", "on_hold": "l-hold"}}),
        ([" board = abc "], {"board": "abc"}),
    ],
    ids=["scalar", "map-entries", "spaces"],
)
def test_set_items_parse_into_overrides(items: list[str], expected: dict[str, Any]) -> None:
    assert parse_sets("boards", SPECS, items) == expected


@pytest.mark.parametrize(
    ("item", "says"),
    [
        ("colour=blue", "unknown override 'colour'; boards takes: board, status.<new|open|pending|on_hold|"),
        ("status=l-wait", "boards takes it as status.<new|open|pending|on_hold|solved|closed>=value"),
        ("board.x=abc", "boards takes it as board=value"),
        ("status.waiting=l-wait", "'waiting' is not one of new, open"),
        ("board=ABC!", "'ABC!' does not match ^[a-f0-9]+$ (the board tickets live on)"),
        ("board", "--set takes name=value"),
    ],
    ids=["unknown-name", "map-without-key", "scalar-with-key", "key-not-allowed", "pattern", "no-equals"],
)
def test_a_bad_set_item_is_one_clear_line(item: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_sets("boards", SPECS, [item])
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_merge_replaces_scalars_merges_map_entries_and_unsets() -> None:
    current = {"board": "abc", "status": {"pending": "l-wait", "closed": "l-x"}}
    merged = merge(current, {"status": {"on_hold": "l-hold", "closed": ""}}, unset=["board"])
    assert merged == {"status": {"pending": "l-wait", "on_hold": "l-hold"}}
    assert merge(merged, {}, unset=["status.pending", "status.on_hold"]) == {}


def test_resolve_puts_account_values_over_the_defaults() -> None:
    assert resolve(SPECS, {"status": {"pending": "l-wait"}}) == {
        "board": "b0", "status": {"open": "l-open", "solved": "l-done", "pending": "l-wait"}}


def connector(overrides: dict[str, Any], seen: list[httpx.Request]) -> Connector:
    cards = {"7": {"id": "7", "name": "Printer", "idList": "l-wait"},
             "8": {"id": "8", "name": "Done", "idList": "l-done"}}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "PUT":
            return httpx.Response(200, json={"id": "7"})
        return httpx.Response(200, json=cards[request.url.path.rsplit("/", 1)[1]])

    definition = ProviderDefinition.model_validate(DEFINITION)
    values = {**resolve_values(definition, "acme", {"token": "t"}), **resolve(definition.overrides, overrides)}
    http = ProviderHTTP(values["root"], build_auth(definition.auth, values),
                        http=httpx.Client(transport=httpx.MockTransport(handler)))
    return Connector(definition, "acme", values, http)


def test_overrides_fill_templates_and_read_provider_ids_back_as_statuses() -> None:
    seen: list[httpx.Request] = []
    conn = connector({"board": "abc", "status": {"pending": "l-wait"}}, seen)
    assert conn.get_ticket("7", with_comments=False).status == Status.PENDING
    assert conn.get_ticket("8", with_comments=False).status == Status.SOLVED  # the definition's default entry
    assert [r.url.path for r in seen] == ["/boards/abc/cards/7", "/boards/abc/cards/8"]


def test_overrides_extend_an_argument_map_and_an_unmapped_status_is_refused_before_sending() -> None:
    seen: list[httpx.Request] = []
    conn = connector({"status": {"pending": "l-wait"}}, seen)
    conn.perform(Action(kind=ActionKind.SET_STATUS, ticket_id="7", key="k", params={"status": "pending"}))
    assert seen[-1].url.path == "/cards/7" and seen[-1].content == b'{"idList":"l-wait"}'
    with pytest.raises(ValueError, match="on_hold"):
        conn.perform(Action(kind=ActionKind.SET_STATUS, ticket_id="7", key="k2", params={"status": "on_hold"}))
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"overrides": {"token": {}}}, "['token'] are connection values already"),
        ({"overrides": {"board": {"map": False}}, "resources": {"ticket": {
            "fields": {"id": "id", "status": {"path": "idList", "reverse_overrides": "board"}}}}},
         "reverse_overrides: 'board' is not a map override"),
        ({"actions": {"set_status": {"call": "PUT /c", "args": {"status": {"overrides": "nope"}}}}},
         "actions.set_status.args.status.overrides: 'nope' is not a map override"),
        ({"overrides": {"status": {"keys": ["a"], "default": "x"}}}, "a map override's default is a mapping"),
    ],
    ids=["clashes-with-connection", "reverse-of-a-scalar", "arg-override-undeclared", "map-default-not-mapping"],
)
def test_definitions_with_bad_overrides_are_refused_at_load(tmp_path: Path, changes: dict[str, Any],
                                                            says: str) -> None:
    path = tmp_path / "boards.yaml"
    path.write_text(yaml.safe_dump({**DEFINITION, **changes}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"boards\.yaml") as caught:
        read_definition(path)
    assert says in str(caught.value)
