"""Friction found in the first week (issue 15, finding 9), end to end on loopback: replies greet the
requester by name, `decisions list` shows times and hides our own echoes, a shadow decision is
listed as what happened."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from deskhand.cli import app
from deskhand.cli.decisions import performed
from deskhand.settings import Settings
from deskhand.store import Store
from deskhand.testing.loop import sim_loop

runner = CliRunner()
RESET = ("How do I reset my password?", "I forgot my password and cannot sign in. How do I reset it?")


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKHAND_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DESKHAND_SECRET_KEY", settings.secret_key or "")


def test_a_zendesk_reply_greets_the_requester_and_the_list_hides_our_echo(store: Store, settings: Settings,
                                                                         cli_env: None) -> None:
    with sim_loop("zendesk", store, settings, mode="auto") as loop:
        tid = loop.create(*RESET)  # requester "Ann Example": Zendesk's ticket has only requester_id
        loop.drain()
        (reply,) = loop.own_comments(tid)
        assert reply.body.startswith("Hi Ann,"), reply.body[:40]
        loop.wait_event(tid, "comment_added")  # the echo of our own reply
        loop.drain()
        routes = [d["route"] for d in loop.decisions(tid)]
        assert routes.count("ignore") >= 1 and "auto_reply" in routes
    listed = runner.invoke(app, ["decisions", "list", "--ticket", tid])
    assert listed.exit_code == 0, listed.output
    assert "ignore" not in listed.stdout and "auto_reply" in listed.stdout
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", listed.stdout), listed.stdout
    assert "--all shows them" in listed.output
    everything = json.loads(runner.invoke(app, ["decisions", "list", "--ticket", tid, "--all", "--json"]).stdout)
    assert "ignore" in [d["route"] for d in everything["decisions"]]


def test_a_shadow_decision_is_listed_as_what_happened(store: Store, settings: Settings, cli_env: None) -> None:
    with sim_loop("zendesk", store, settings, mode="shadow") as loop:
        tid = loop.create(*RESET)
        loop.drain()
        assert loop.own_comments(tid) == []  # shadow: nothing written
    (row,) = json.loads(runner.invoke(app, ["decisions", "list", "--ticket", tid, "--json"]).stdout)["decisions"]
    assert row["route"] == "auto_reply" and row["performed"] == "auto_reply (shadow)"
    assert "auto_reply (shadow)" in runner.invoke(app, ["decisions", "list", "--ticket", tid]).stdout


@pytest.mark.parametrize(
    ("row", "shown"),
    [
        ({"route": "auto_reply", "reasons": [], "mode": "auto"}, "auto_reply"),
        ({"route": "auto_reply", "reasons": [], "mode": "shadow"}, "auto_reply (shadow)"),
        ({"route": "draft", "reasons": ["shadow mode for acme/*: recorded, nothing written"], "mode": None},
         "draft (shadow)"),
        ({"route": "ignore", "reasons": ["our own comment"], "mode": "shadow"}, "ignore"),
    ],
    ids=["auto", "shadow-from-ledger", "shadow-from-reason", "ignore-stays"],
)
def test_performed_names_what_happened(row: dict[str, object], shown: str) -> None:
    assert performed(row) == shown
