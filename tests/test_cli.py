"""The CLI against a running Zendesk simulator: connect, accounts, kb, events, decisions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from deskhand.cli import app
from deskhand.demo.scenario import KB_DIR
from deskhand.sim import zendesk

runner = CliRunner()


@pytest.fixture
def sim() -> Iterator[zendesk.ZendeskSim]:
    server = zendesk.start()
    yield server
    server.stop()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DESKHAND_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("DESKHAND_SECRET_KEY", Fernet.generate_key().decode())
    return tmp_path


def _connect(sim_url: str, *extra: str, token: str = "deskhand-sim-token") -> object:
    args = [
        "connect",
        "zendesk",
        "--name",
        "acme",
        "--subdomain",
        "acme",
        "--email",
        "bot@acme.test",
        "--api-token",
        token,
        "--webhook-secret",
        "shh",
        "--base-url",
        sim_url,
        *extra,
    ]
    return runner.invoke(app, args)


def test_connect_stores_the_account_without_showing_secrets(sim, env) -> None:
    r = _connect(sim.url, "--setting", "auto_threshold=0.9")
    assert r.exit_code == 0, r.output
    assert "/webhooks/zendesk/acme" in r.output
    listed = runner.invoke(app, ["accounts", "list", "--json"])
    (acc,) = json.loads(listed.stdout)["accounts"]
    assert acc["config"]["api_token"] == "***" and acc["config"]["webhook_secret"] == "***"
    assert acc["config"]["subdomain"] == "acme" and acc["settings"] == {"auto_threshold": "0.9"}
    assert "deskhand-sim-token" not in listed.stdout


@pytest.mark.parametrize(
    ("extra", "token", "message"),
    [
        ((), "wrong-token", "401"),
        (("--setting", "auto_threshold=2"), "deskhand-sim-token", "auto_threshold"),
        (("--colour", "blue"), "deskhand-sim-token", "unknown option --colour"),
    ],
    ids=["rejected-token", "bad-threshold", "unknown-option"],
)
def test_a_bad_connection_is_a_clear_error_and_stores_nothing(sim, env, extra, token, message) -> None:
    r = _connect(sim.url, *extra, token=token)
    assert r.exit_code == 2
    assert message in r.output
    assert json.loads(runner.invoke(app, ["accounts", "list", "--json"]).stdout)["accounts"] == []


def test_kb_add_is_incremental_and_search_finds_the_article(env, tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    for name in ("reset-password.md", "invoices.md"):
        (kb / name).write_text((KB_DIR / name).read_text())
    first = json.loads(runner.invoke(app, ["kb", "add", str(kb), "--json"]).stdout)
    assert sorted(first["added"]) == ["kb/invoices.md", "kb/reset-password.md"]
    (kb / "invoices.md").write_text((KB_DIR / "invoices.md").read_text() + "\nInvoices are kept 7 years.\n")
    (kb / "reset-password.md").unlink()
    second = json.loads(runner.invoke(app, ["kb", "add", str(kb), "--json", "--yes"]).stdout)
    assert second["changed"] == ["kb/invoices.md"] and second["removed"] == ["kb/reset-password.md"]
    found = json.loads(runner.invoke(app, ["kb", "search", "where are my invoices", "--json"]).stdout)
    assert found["results"][0]["title"] == "Download invoices and receipts"


def test_events_and_decisions_lists_are_json(env) -> None:
    assert json.loads(runner.invoke(app, ["events", "list", "--json"]).stdout) == {"events": []}
    assert json.loads(runner.invoke(app, ["decisions", "list", "--json"]).stdout) == {"decisions": []}
    r = runner.invoke(app, ["decisions", "show", "99"])
    assert r.exit_code == 2 and "no decision 99" in r.output
