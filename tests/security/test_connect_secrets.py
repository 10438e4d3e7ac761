"""Issue 14, finding 6: `deskhand connect` takes secrets from stdin or the environment, so they need
not be arguments (visible in the process list to every user of the machine)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from deskhand.cli import app
from deskhand.cli.secret_args import resolve
from deskhand.errors import DeskhandError
from deskhand.providers import connection_fields
from deskhand.settings import Settings
from deskhand.sim import zendesk
from deskhand.store import Store

runner = CliRunner()
TOKEN = "deskhand-sim-token"


@pytest.fixture
def sim() -> Iterator[zendesk.ZendeskSim]:
    server = zendesk.start()
    yield server
    server.stop()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    url, key = f"sqlite:///{tmp_path / 'cli.db'}", Fernet.generate_key().decode()
    monkeypatch.setenv("DESKHAND_DATABASE_URL", url)
    monkeypatch.setenv("DESKHAND_SECRET_KEY", key)
    for name in ("DESKHAND_API_TOKEN", "DESKHAND_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return Settings(database_url=url, secret_key=key)


def _connect(sim_url: str, *secret_args: str, stdin: str | None = None) -> object:
    args = ["connect", "zendesk", "--name", "acme", "--subdomain", "acme", "--email", "bot@acme.test",
            "--base-url", sim_url, *secret_args]
    return runner.invoke(app, args, input=stdin)


def _stored(settings: Settings) -> dict[str, str]:
    store = Store.open(settings)
    try:
        return store.get_account("acme").config
    finally:
        store.engine.dispose()


@pytest.mark.parametrize(
    ("args", "stdin", "variables"),
    [
        (("--api-token", "-", "--webhook-secret-env", "HOOK"), TOKEN + "\n", {"HOOK": "shh"}),
        (("--api-token-env", "ZD_TOKEN", "--webhook-secret", "-"), "shh\n", {"ZD_TOKEN": TOKEN}),
        ((), None, {"DESKHAND_API_TOKEN": TOKEN, "DESKHAND_WEBHOOK_SECRET": "shh"}),
    ],
    ids=["token-from-stdin", "token-from-named-variable", "deskhand-variables"],
)
def test_connect_takes_secrets_without_them_being_arguments(
    sim, env: Settings, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], stdin: str | None,
    variables: dict[str, str],
) -> None:
    for k, v in variables.items():
        monkeypatch.setenv(k, v)
    r = _connect(sim.url, *args, stdin=stdin)
    assert r.exit_code == 0, r.output
    config = _stored(env)
    assert (config["api_token"], config["webhook_secret"]) == (TOKEN, "shh")
    assert TOKEN not in r.output


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--api-token-env", "NOT_SET_ANYWHERE"], None, "not set"),
        (["--api-token", "-", "--webhook-secret", "-"], "a\nb\n", "only one"),
        (["--api-token", "-"], "", "nothing was read"),
    ],
    ids=["missing-variable", "two-values-from-stdin", "empty-stdin"],
)
def test_secret_sources_fail_clearly(args: list[str], stdin: str | None, message: str) -> None:
    with pytest.raises(DeskhandError, match=message):
        resolve(args, connection_fields("zendesk"), env={}, stdin=io.StringIO(stdin or ""))


def test_explicit_values_beat_the_environment() -> None:
    out = resolve(["--api-token", "given"], connection_fields("zendesk"), env={"DESKHAND_API_TOKEN": "env"})
    assert out == ["--api-token", "given"]
