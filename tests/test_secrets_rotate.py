"""`deskhand secrets rotate`: every sealed secret re-sealed under a new key while a running gateway
(another SecretBox on the same key file, started before the rotation) keeps reading accounts; resumable
and idempotent; --finish drops the old key, which alone then opens nothing; nothing printed in plain text."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from deskhand.cli import app
from deskhand.errors import ConfigError
from deskhand.gateway.app import create_app
from deskhand.outbound import create_endpoint
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.sim import zendesk_spec
from deskhand.sim.base import SimServer
from deskhand.store import Store, rekey
from deskhand.store.secrets import KEY_FILE, SecretBox

runner = CliRunner()
SECRETS = {f"shop{i}": {"api_token": f"api-token-plain-{i}-xyz", "webhook_secret": f"whsec-plain-{i}-abc"}
           for i in range(6)}
ACCESS = "oauth-access-token-plain-0123456789"


def _fill(store: Store, rt: Runtime) -> None:
    for name, secret in SECRETS.items():
        store.save_account(name, "zendesk", {"subdomain": name, "email": "agent@example.com",
                                             "base_url": "http://127.0.0.1:9", **secret})
    rt.oauth_tokens.connect("shop0", "zendesk", {"access_token": ACCESS, "refresh_token": "refresh-plain-987"})
    create_endpoint(rt, "default", "http://127.0.0.1:9/hooks", ["account.needs_reauth"])


def _sealed_rows(store: Store) -> list[bytes]:
    from sqlalchemy import select

    rows = []
    with store.engine.connect() as c:
        for _table, column in rekey.sealed_columns():
            rows += [r[0] for r in c.execute(select(column))]
    return rows


@pytest.fixture
def keyfile_settings(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Keys from the key file beside the store (the default), for this process and the CLI."""
    monkeypatch.delenv("DESKHAND_SECRET_KEY", raising=False)
    monkeypatch.setenv("DESKHAND_DATABASE_URL", database_url)
    monkeypatch.setenv("DESKHAND_HOME", str(tmp_path))
    return Settings(database_url=database_url, secret_key=None, home=tmp_path)


def test_every_sealed_column_is_rotated() -> None:
    found = {(t.name, c.name) for t, c in rekey.sealed_columns()}
    assert {("accounts", "config_sealed"), ("oauth_tokens", "tokens_sealed"), ("oauth_pending", "sealed"),
            ("webhook_endpoints", "secret_sealed")} <= found
    # a binary column that is not a sealed secret must say so here (a new secret column must end in `sealed`)
    from sqlalchemy import LargeBinary

    import deskhand.store.tables  # noqa: F401
    from deskhand.store.schema import metadata

    binary = {(t.name, c.name) for t in metadata.sorted_tables for c in t.columns if isinstance(c.type, LargeBinary)}
    assert binary - found == {("taxonomy_models", "model")}


@pytest.mark.every_backend
def test_rotate_while_a_running_gateway_reads_accounts_then_drop_the_old_key(keyfile_settings: Settings) -> None:
    gateway_store = Store.open(keyfile_settings)  # the gateway process, started before the rotation
    rt = Runtime(gateway_store, keyfile_settings)
    _fill(gateway_store, rt)
    key_file = keyfile_settings.data_dir() / KEY_FILE
    old_key = key_file.read_bytes().strip()
    gateway = SimServer(create_app(rt, workers=0)).start(timeout=120.0)
    reads = 0

    def gateway_reads(_table: str) -> None:
        """After every re-sealed row: the gateway (still holding only the old key in memory) reads every
        account, the OAuth tokens, and verifies a signed webhook with an account's sealed secret."""
        nonlocal reads
        for name, secret in SECRETS.items():
            assert gateway_store.get_account(name).config["api_token"] == secret["api_token"]
        token = rt.oauth_tokens.get("shop0")
        assert token is not None and token.token["access_token"] == ACCESS
        body, headers = zendesk_spec.signed_delivery(f"d-{reads}", SECRETS["shop3"]["webhook_secret"])
        answer = httpx.post(f"{gateway.url}/webhooks/zendesk/shop3", content=body, headers=headers, timeout=60)
        assert answer.status_code < 300, answer.text
        reads += 1

    try:
        worker_store = Store.open(keyfile_settings)  # a worker process, started before the rotation too
        rotating = Store.open(keyfile_settings)  # the `deskhand secrets rotate` process
        assert rekey.start(rotating.box) and len(rotating.box.keys) == 2
        assert gateway_store.box.keys == [old_key]  # the gateway has not looked at the key file since
        # a secret written by a process started before the rotation is sealed with the new key already
        worker_store.save_account("early", "zendesk", {"subdomain": "early", "email": "a@example.com",
                                                       "api_token": "early-plain-token", "base_url": "http://x"})
        tallies = rekey.reseal(rotating.engine, rotating.box, on_row=gateway_reads)
        resealed = sum(t.resealed for t in tallies)
        assert resealed == len(SECRETS) + 1 + 1 and reads == resealed  # accounts, the token set, the endpoint
        assert sum(t.already for t in tallies) == 1  # `early`
        assert rekey.stragglers(rotating.engine, rotating.box) == []
        # the gateway seals new secrets with the new key now (it read the key file again)
        gateway_store.save_account("late", "zendesk", {"subdomain": "late", "email": "a@example.com",
                                                       "api_token": "late-plain-token", "base_url": "http://x"})
        assert gateway_store.box.keys == rotating.box.keys

        # idempotent: the CLI run again resumes (no third key) and finds nothing to do
        again = runner.invoke(app, ["secrets", "rotate", "--json"])
        assert again.exit_code == 0, again.output
        summary = json.loads(again.stdout)
        assert summary["new_key"] is False and summary["keys"] == 2 and summary["not_yet_resealed"] == 0
        assert sum(c["resealed"] for c in summary["columns"]) == 0
        assert sum(c["already"] for c in summary["columns"]) == resealed + 2  # + early and late

        done = runner.invoke(app, ["secrets", "rotate", "--finish"])
        assert done.exit_code == 0, done.output
        new_keys = key_file.read_bytes().split()
        assert len(new_keys) == 1 and new_keys[0] != old_key
        gateway_reads("after")  # the gateway still reads everything (it re-reads the key file)

        rows = _sealed_rows(rotating)
        assert len(rows) == len(SECRETS) + 2 + 2  # accounts (+ early, late), the token set, the endpoint
        old_alone = SecretBox(old_key)
        for sealed in rows:
            with pytest.raises(ConfigError):
                old_alone.unseal(sealed)
        shown = again.output + done.output
        assert old_key.decode() not in shown and new_keys[0].decode() not in shown
        plain = [ACCESS, "refresh-plain-987", "early-plain-token", "late-plain-token"]
        for secret in [*plain, *[v for s in SECRETS.values() for v in s.values()]]:
            assert secret not in shown
            assert all(secret.encode() not in sealed for sealed in rows)
    finally:
        gateway.stop()
        rt.close()


@pytest.mark.every_backend
def test_a_killed_rotation_resumes_where_it_stopped(keyfile_settings: Settings) -> None:
    store = Store.open(keyfile_settings)
    rt = Runtime(store, keyfile_settings)
    try:
        _fill(store, rt)
        rekey.start(store.box)
        done: list[str] = []

        def killed(table: str) -> None:
            done.append(table)
            if len(done) == 3:
                raise KeyboardInterrupt  # the process dies after re-sealing three rows

        with pytest.raises(KeyboardInterrupt):
            rekey.reseal(store.engine, store.box, on_row=killed)
        assert len(rekey.stragglers(store.engine, store.box)) == len(SECRETS) + 2 - 3
        assert rekey.start(store.box) is False  # a rotation under way is resumed, not restarted
        tallies = rekey.reseal(store.engine, store.box)
        assert sum(t.resealed for t in tallies) == len(SECRETS) + 2 - 3 and sum(t.already for t in tallies) == 3
        assert rekey.stragglers(store.engine, store.box) == []
        assert store.get_account("shop5").config["webhook_secret"] == SECRETS["shop5"]["webhook_secret"]
    finally:
        rt.close()


def test_keys_from_the_environment_rotate_once_the_new_key_is_put_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'deskhand.db'}"
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("DESKHAND_DATABASE_URL", url)
    monkeypatch.setenv("DESKHAND_SECRET_KEY", old)
    store = Store.open(Settings(database_url=url, secret_key=old))
    rt = Runtime(store, Settings(database_url=url, secret_key=old))
    try:
        _fill(store, rt)
        one = runner.invoke(app, ["secrets", "rotate"])
        assert one.exit_code != 0 and "NEW,OLD" in one.output  # it cannot change the environment itself
        monkeypatch.setenv("DESKHAND_SECRET_KEY", f"{new},{old}")
        rotated = runner.invoke(app, ["secrets", "rotate", "--json"])
        assert rotated.exit_code == 0, rotated.output
        assert json.loads(rotated.stdout)["not_yet_resealed"] == 0
        finished = runner.invoke(app, ["secrets", "rotate", "--finish"])
        assert finished.exit_code == 0 and "remove every key but the first" in finished.output
        assert not (tmp_path / KEY_FILE).exists()
        for sealed in _sealed_rows(store):
            assert SecretBox(new).unseal(sealed)
            with pytest.raises(ConfigError):
                SecretBox(old).unseal(sealed)
        assert old not in rotated.output + finished.output and new not in rotated.output + finished.output
    finally:
        rt.close()
