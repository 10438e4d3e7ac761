"""`deskhand connect … --set` and `deskhand accounts set`: per-account overrides, checked against what
the definition declares (a Zendesk definition with an `overrides:` section, over the simulator)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from deskhand.cli import app
from deskhand.providers import definition
from deskhand.sim import zendesk

runner = CliRunner()
OVERRIDES = {
    "intake_group": {"help": "group new tickets go to", "pattern": "^[0-9]+$"},
    "status": {"keys": ["new", "open", "pending", "on_hold", "solved", "closed"], "help": "custom status ids"},
}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[zendesk.ZendeskSim]:
    spec = yaml.safe_load((definition.DEFS_DIR / "zendesk.yaml").read_text(encoding="utf-8"))
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "zendesk.yaml").write_text(yaml.safe_dump({**spec, "overrides": OVERRIDES}), encoding="utf-8")
    monkeypatch.setattr(definition, "DEFS_DIR", defs)
    definition.load.cache_clear()
    monkeypatch.setenv("DESKHAND_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("DESKHAND_SECRET_KEY", Fernet.generate_key().decode())
    server = zendesk.start()
    yield server
    server.stop()
    definition.load.cache_clear()


def connect(sim: zendesk.ZendeskSim, *extra: str) -> object:
    return runner.invoke(app, ["connect", "zendesk", "--name", "acme", "--subdomain", "acme", "--email",
                               "bot@acme.test", "--api-token", zendesk.DEFAULT_TOKEN, "--webhook-secret", "shh",
                               "--base-url", sim.url, *extra])


def overrides() -> dict[str, object]:
    listed = runner.invoke(app, ["accounts", "list", "--json"])
    return json.loads(listed.stdout)["accounts"][0]["overrides"]


def test_connect_stores_overrides_and_accounts_set_changes_them(env: zendesk.ZendeskSim) -> None:
    r = connect(env, "--set", "intake_group=360001", "--set", "status.pending=900")
    assert r.exit_code == 0, r.output
    assert overrides() == {"intake_group": "360001", "status": {"pending": "900"}}
    changed = runner.invoke(app, ["accounts", "set", "acme", "status.on_hold=901", "--unset", "intake_group"])
    assert changed.exit_code == 0, changed.output
    assert overrides() == {"status": {"pending": "900", "on_hold": "901"}}
    kept = connect(env, "--update", "--set", "intake_group=7")  # an update keeps what it does not set
    assert kept.exit_code == 0, kept.output
    assert overrides() == {"intake_group": "7", "status": {"pending": "900", "on_hold": "901"}}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["connect", "--set", "colour=blue"], "error: unknown override 'colour'; zendesk takes: intake_group, status."),
        (["connect", "--set", "intake_group=abc"], "error: override 'intake_group': 'abc' does not match ^[0-9]+$"),
        (["set", "status.waiting=9"], "error: override 'status.waiting': 'waiting' is not one of new, open"),
        (["set", "--unset", "colour"], "error: unknown override 'colour'"),
    ],
    ids=["connect-unknown-name", "connect-bad-value", "set-unknown-key", "unset-unknown"],
)
def test_a_bad_override_is_one_line_exit_2_and_changes_nothing(env: zendesk.ZendeskSim, args: list[str],
                                                               says: str) -> None:
    if args[0] == "set":
        assert connect(env).exit_code == 0
        r = runner.invoke(app, ["accounts", "set", "acme", *args[1:]])
        assert overrides() == {}
    else:
        r = connect(env, *args[1:])
        assert json.loads(runner.invoke(app, ["accounts", "list", "--json"]).stdout)["accounts"] == []
    assert r.exit_code == 2
    assert " ".join(r.output.split()).startswith(says)
