"""Every account setting settable with --setting and visible in `policy show` (issue 15, finding 6)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from deskhand.account_settings import catalogue, effective, parse_setting
from deskhand.cli import app
from deskhand.errors import ConfigError
from deskhand.sim import zendesk

runner = CliRunner()


@pytest.fixture(scope="module")
def zd() -> Iterator[zendesk.ZendeskSim]:
    server = zendesk.start()
    yield server
    server.stop()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DESKHAND_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("DESKHAND_SECRET_KEY", Fernet.generate_key().decode())
    return tmp_path


def connect(url: str, *settings: str, update: bool = False) -> object:
    args = ["connect", "zendesk", "--name", "acme"]
    if update:
        args.append("--update")
    else:
        args += ["--subdomain", "acme", "--email", "bot@acme.test", "--api-token", "deskhand-sim-token",
                 "--webhook-secret", "shh", "--base-url", url]
    for s in settings:
        args += ["--setting", s]
    return runner.invoke(app, args)


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("supported_languages=en, de,fr", ("supported_languages", "en,de,fr")),
        ("vip_organizations=Globex,42", ("vip_organizations", "Globex,42")),
        ("vip_tags=vip,enterprise", ("vip_tags", "vip,enterprise")),
        ("extra_legal_terms=Anwalt,Klage", ("extra_legal_terms", "Anwalt,Klage")),
        ("disabled_rules=unsupported_language", ("disabled_rules", "unsupported_language")),
        ("auto_threshold=0.9", ("auto_threshold", "0.9")),
        ("autonomy_min_sample=20", ("autonomy_min_sample", "20")),
        ("vip_tags=", ("vip_tags", None)),
    ],
    ids=["languages", "vip-orgs", "vip-tags", "legal-terms", "disabled-rules", "threshold", "autonomy-int",
         "empty-resets"],
)
def test_each_setting_parses_to_what_is_stored(text: str, stored: tuple[str, str | None]) -> None:
    assert parse_setting(text) == stored


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("supported_languages=english", "not ISO 639-1"),
        ("disabled_rules=vip", "unknown rules vip"),
        ("vip_fields=plan", "not field=value pairs"),
        ("auto_threshold=high", "not a valid float"),
        ("autonomy_min_sample=1.5", "not a valid int"),
        ("extra_outage_terms=(unclosed", "not a regular expression"),
        ("sync_start=yesterday", "ISO 8601"),
        ("colour=blue", "key one of"),
    ],
    ids=["language", "rule", "pair", "float", "int", "regex", "date", "unknown-key"],
)
def test_a_bad_setting_is_refused_with_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_setting(text)


def test_the_catalogue_covers_policy_autonomy_and_account_rules() -> None:
    names = set(catalogue())
    assert {"auto_categories", "auto_threshold", "supported_languages", "vip_organizations", "vip_tags",
            "extra_legal_terms", "disabled_rules", "autonomy_failure_threshold", "sync_start"} <= names


def test_effective_marks_defaults() -> None:
    rows = {e.name: e for e in effective({"vip_tags": "vip"})}
    assert rows["vip_tags"].value == ["vip"] and not rows["vip_tags"].default
    assert rows["auto_categories"].value == ["how_to", "account_access", "billing"] and rows["auto_categories"].default
    assert rows["supported_languages"].value == ["en"] and rows["supported_languages"].default


def test_list_settings_are_set_validated_and_shown_with_defaults_marked(zd, env) -> None:
    r = connect(zd.url, "supported_languages=en,de", "vip_tags=vip", "disabled_rules=legal_or_security")
    assert r.exit_code == 0, r.output
    shown = runner.invoke(app, ["policy", "show", "acme"])
    assert shown.exit_code == 0, shown.output
    lines = {line.split("=")[0].strip(): line for line in shown.output.splitlines() if " = " in line}
    assert lines["auto_categories"].endswith("= how_to, account_access, billing  (default)")
    assert lines["supported_languages"].endswith("= en, de") and lines["vip_tags"].endswith("= vip")
    assert lines["vip_organizations"].endswith("= (none)  (default)")
    data = json.loads(runner.invoke(app, ["policy", "show", "acme", "--json"]).stdout)
    by_name = {s["name"]: s for s in data["settings"]}
    assert by_name["disabled_rules"] == {"name": "disabled_rules", "value": ["legal_or_security"], "default": False}


def test_update_changes_and_resets_settings(zd, env) -> None:
    assert connect(zd.url, "vip_tags=vip", "auto_threshold=0.9").exit_code == 0
    r = connect(zd.url, "vip_tags=", "supported_languages=de", update=True)
    assert r.exit_code == 0, r.output
    (acc,) = json.loads(runner.invoke(app, ["accounts", "list", "--json"]).stdout)["accounts"]
    assert acc["settings"] == {"auto_threshold": "0.9", "supported_languages": "de"}


@pytest.mark.parametrize(
    ("setting", "message"),
    [("auto_categories=biling", "unknown category 'biling'"), ("draft_threshold=0.95", "thresholds must satisfy"),
     ("disabled_rules=nope", "unknown rules nope")],
    ids=["unknown-category", "thresholds-crossed", "unknown-rule"],
)
def test_connect_refuses_a_bad_setting_and_stores_nothing(zd, env, setting: str, message: str) -> None:
    r = connect(zd.url, setting)
    assert r.exit_code == 2 and message in r.output, r.output
    assert json.loads(runner.invoke(app, ["accounts", "list", "--json"]).stdout)["accounts"] == []
