"""Every command validates what it names (issue 15, finding 4): one line on stderr, exit code 2,
nothing changed. Against the Zendesk and Jira simulators over loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from deskhand.cli import app
from deskhand.cli import checks as checks_module
from deskhand.sim import jira, zendesk
from deskhand.sim.jira_limits import RateLimits

runner = CliRunner()


@pytest.fixture(scope="module")
def zd() -> Iterator[zendesk.ZendeskSim]:
    server = zendesk.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def jr() -> Iterator[jira.JiraSimServer]:
    server = jira.start(rate_limits=RateLimits.off())
    yield server
    server.stop()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DESKHAND_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("DESKHAND_SECRET_KEY", Fernet.generate_key().decode())
    return tmp_path


def zendesk_args(url: str, *extra: str, name: str = "acme", secret: bool = True) -> list[str]:
    return ["connect", "zendesk", "--name", name, "--subdomain", "acme", "--email", "bot@acme.test",
            "--api-token", "deskhand-sim-token", *(["--webhook-secret", "shh"] if secret else []),
            "--base-url", url, *extra]


def jira_args(url: str, *extra: str) -> list[str]:
    return ["connect", "jira", "--name", "sup", "--site", "acme", "--email", jira.DEFAULT_EMAIL,
            "--api-token", jira.DEFAULT_TOKEN, "--webhook-secret", "shh", "--base-url", url, *extra]


def accounts() -> list[dict[str, object]]:
    listed: list[dict[str, object]] = json.loads(runner.invoke(app, ["accounts", "list", "--json"]).stdout)["accounts"]
    return listed


def one_line_error(result: object, expected: str) -> None:
    out = result.output  # type: ignore[attr-defined]
    assert result.exit_code == 2, out  # type: ignore[attr-defined]
    assert expected in out, out
    assert "Traceback" not in out and len(out.strip().splitlines()) <= 2, out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["switch", "trip", "account", "--account", "nosuch", "--reason", "x"], "no account named 'nosuch'"),
        (["switch", "trip", "provider", "--provider", "zendsk", "--reason", "x"], "unknown provider 'zendsk'"),
        (["switch", "trip", "category", "--category", "biling", "--reason", "x"], "unknown category 'biling'"),
        (["policy", "set", "acme", "--category", "biling", "--mode", "auto"], "unknown category 'biling'"),
        (["policy", "set", "nosuch", "--mode", "auto"], "no account named 'nosuch'"),
        (["policy", "advice", "nosuch"], "no account named 'nosuch'"),
        (["kb", "remove", "nosuch/thing.md"], "no article 'nosuch/thing.md'"),
        (["accounts", "remove", "nosuch", "--yes"], "no account named 'nosuch'"),
        (["events", "list", "--account", "nosuch"], "no account named 'nosuch'"),
        (["decisions", "list", "--account", "nosuch"], "no account named 'nosuch'"),
        (["metrics", "--account", "nosuch"], "no account named 'nosuch'"),
        (["kb", "list", "--tenant", "acmee"], "no tenant 'acmee'"),
        (["kb", "search", "refund", "--tenant", "acmee"], "no tenant 'acmee'"),
        (["triage", "train", "nosuch", "--from", "history.csv"], "no account named 'nosuch'"),
    ],
    ids=["switch-unknown-account", "switch-unknown-provider", "switch-unknown-category", "policy-unknown-category",
         "policy-unknown-account", "advice-unknown-account", "kb-remove-unknown-article", "remove-unknown-account",
         "events-unknown-account", "decisions-unknown-account", "metrics-unknown-account", "kb-list-unknown-tenant",
         "kb-search-unknown-tenant", "train-unknown-account"],
)
def test_a_command_naming_something_unknown_fails_with_one_line(zd, env, argv, expected) -> None:
    assert runner.invoke(app, zendesk_args(zd.url)).exit_code == 0
    one_line_error(runner.invoke(app, argv), expected)
    assert json.loads(runner.invoke(app, ["switch", "list", "--json"]).stdout)["switches"] == []


def test_known_names_still_work(zd, env) -> None:
    assert runner.invoke(app, zendesk_args(zd.url)).exit_code == 0
    assert runner.invoke(app, ["policy", "set", "acme", "--category", "billing", "--mode", "auto"]).exit_code == 0
    r = runner.invoke(app, ["switch", "trip", "account", "--account", "acme", "--reason", "maintenance"])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize(
    "name", ["bad/name", "Acme", "-acme", "acme support", "a" * 64, ""], ids=["slash", "upper", "dash-first",
                                                                           "space", "too-long", "empty"]
)
def test_connect_refuses_a_name_unusable_in_a_url(zd, env, name) -> None:
    one_line_error(runner.invoke(app, zendesk_args(zd.url, name=name)), "not usable in a URL")
    assert accounts() == []


def test_reconnecting_an_existing_name_needs_update(zd, env) -> None:
    assert runner.invoke(app, zendesk_args(zd.url, "--setting", "auto_threshold=0.9")).exit_code == 0
    one_line_error(runner.invoke(app, zendesk_args(zd.url, "--tenant", "other")), "add --update")
    r = runner.invoke(app, ["connect", "zendesk", "--name", "acme", "--update", "--webhook-secret", "new-secret"])
    assert r.exit_code == 0, r.output
    (acc,) = accounts()
    assert acc["tenant"] == "default" and acc["settings"] == {"auto_threshold": "0.9"}
    assert acc["config"]["subdomain"] == "acme"  # type: ignore[index]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["connect", "zendesk", "--name", "ghost", "--update", "--api-token", "x"],
         "no account named 'ghost' to --update"),
        (["connect", "zendesk", "--name", "acme", "--update", "--tenant", "other"], "cannot change tenant"),
    ],
    ids=["update-of-nothing", "update-moves-tenant"],
)
def test_update_refuses_what_it_cannot_do(zd, env, argv, expected) -> None:
    assert runner.invoke(app, zendesk_args(zd.url)).exit_code == 0
    one_line_error(runner.invoke(app, argv), expected)


def test_connect_without_a_webhook_secret_is_refused_unless_acknowledged(zd, env) -> None:
    one_line_error(runner.invoke(app, zendesk_args(zd.url, secret=False)), "--no-webhook-secret")
    assert accounts() == []
    r = runner.invoke(app, zendesk_args(zd.url, "--no-webhook-secret", secret=False))
    assert r.exit_code == 0 and "no webhook secret" in r.output


def test_connect_jira_checks_the_project_against_the_helpdesk(jr, env) -> None:
    one_line_error(runner.invoke(app, jira_args(jr.url, "--project", "NOPE")), "--project 'NOPE' does not exist")
    assert accounts() == []
    r = runner.invoke(app, jira_args(jr.url, "--project", "SUP"))
    assert r.exit_code == 0, r.output


def test_connect_linear_checks_the_team_against_the_helpdesk(env) -> None:
    from deskhand.sim import registry

    spec = registry.get("linear")
    sim = spec.start(registry.SimConfig())
    try:
        config = spec.connect_to(sim)

        def linear_args(team: str) -> list[str]:
            return ["connect", "linear", "--name", "ops", "--api-key", config["api_key"], "--team-id", team,
                    "--base-url", config["base_url"], "--no-webhook-secret"]

        one_line_error(runner.invoke(app, linear_args("0f1e2d3c-not-a-team")),
                       "--team-id '0f1e2d3c-not-a-team' does not exist in linear account 'ops'")
        assert accounts() == []
        r = runner.invoke(app, linear_args(config["team_id"]))
        assert r.exit_code == 0, r.output
        assert [a["name"] for a in accounts()] == ["ops"]
    finally:
        sim.stop()


def test_accounts_remove_asks_first_and_refuses_without_a_terminal(zd, env, monkeypatch) -> None:
    assert runner.invoke(app, zendesk_args(zd.url)).exit_code == 0
    one_line_error(runner.invoke(app, ["accounts", "remove", "acme"]), "add --yes")
    monkeypatch.setattr(checks_module, "interactive", lambda: True)
    assert runner.invoke(app, ["accounts", "remove", "acme"], input="n\n").exit_code == 2
    assert [a["name"] for a in accounts()] == ["acme"]
    r = runner.invoke(app, ["accounts", "remove", "acme"], input="y\n")
    assert r.exit_code == 0 and "removed account acme" in r.output
    assert accounts() == []


def test_accounts_remove_with_yes_frees_the_name_and_its_modes(zd, env) -> None:
    assert runner.invoke(app, zendesk_args(zd.url)).exit_code == 0
    assert runner.invoke(app, ["policy", "set", "acme", "--mode", "auto"]).exit_code == 0
    assert runner.invoke(app, ["accounts", "remove", "acme", "--yes"]).exit_code == 0
    assert runner.invoke(app, zendesk_args(zd.url)).exit_code == 0
    modes = json.loads(runner.invoke(app, ["policy", "show", "acme", "--json"]).stdout)["modes"]
    assert [(m["category"], m["mode"]) for m in modes] == [("*", "draft")]  # the new acme starts at the default


def test_kb_add_for_an_unknown_tenant_is_refused(env, tmp_path) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "a.md").write_text("# A\n\nSome text.\n")
    one_line_error(runner.invoke(app, ["kb", "add", str(folder), "--tenant", "acmee"]), "no tenant 'acmee'")


def test_connect_can_register_the_webhook_and_keep_its_signing_secret(zd, env) -> None:
    from deskhand.providers import open_connector
    from deskhand.sim.zendesk_webhooks import sign
    from deskhand.store import Store

    before = set(zd.state.webhooks)
    r = runner.invoke(app, zendesk_args(zd.url, "--register-webhook", "https://deskhand.example.com/", secret=False))
    assert r.exit_code == 0, r.output
    (wid,) = set(zd.state.webhooks) - before
    hook = zd.state.webhooks[wid]
    assert hook["endpoint"] == "https://deskhand.example.com/webhooks/zendesk/acme"
    assert "zen:event-type:ticket.created" in hook["subscriptions"] and f"registered webhook {wid}" in r.output
    stored = Store.open().get_account("acme").config
    assert stored["webhook_secret"] == hook["_secret"]
    body, stamp = b'{"type": "zen:event-type:ticket.created"}', "2026-01-01T00:00:00Z"
    with open_connector("zendesk", "acme", stored) as conn:  # deliveries signed by the helpdesk now verify
        conn.verify_webhook({"x-zendesk-webhook-signature": sign(hook["_secret"], stamp, body),
                             "x-zendesk-webhook-signature-timestamp": stamp}, body,
                            now=datetime(2026, 1, 1, tzinfo=UTC))


def test_register_webhook_needs_a_url_and_a_provider_that_can(jr, zd, env) -> None:
    one_line_error(runner.invoke(app, zendesk_args(zd.url, "--register-webhook", "deskhand.example.com",
                                                   secret=False)), "is not a URL")
    r = runner.invoke(app, [*jira_args(jr.url), "--register-webhook", "https://deskhand.example.com"])
    one_line_error(r, "jira has no webhook API deskhand can use")
    assert accounts() == []


def test_connect_says_how_the_webhook_may_authenticate_without_showing_the_secret(env) -> None:
    from deskhand.sim import freshdesk

    server = freshdesk.start()
    try:
        r = runner.invoke(app, ["connect", "freshdesk", "--name", "help", "--domain", "acme", "--api-key",
                                freshdesk.DEFAULT_API_KEY, "--webhook-secret", "shh-its-secret",
                                "--webhook-username", "fd-rule", "--base-url", server.url])
    finally:
        server.stop()
    assert r.exit_code == 0, r.output
    said = " ".join(r.stdout.split())
    assert ("the header x-deskhand-secret: <--webhook-secret value>; or Basic auth (user name fd-rule, password "
            "<--webhook-secret value>)") in said
    assert "shh-its-secret" not in r.output
    (acc,) = accounts()
    assert acc["config"]["webhook_username"] == "fd-rule"  # type: ignore[index]
