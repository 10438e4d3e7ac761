from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.fernet import Fernet
from sqlalchemy import select

from deskhand.errors import ConfigError, NotFoundError
from deskhand.model import Event, EventKind
from deskhand.settings import Settings
from deskhand.store import Store
from deskhand.store.schema import accounts
from deskhand.store.tables import metadata

pytestmark = pytest.mark.every_backend


def test_migrations_create_exactly_the_schema(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_account_secrets_are_sealed_at_rest(store: Store, settings: Settings) -> None:
    store.save_account("acme", "zendesk", {"api_token": "s3cr3t-token", "subdomain": "acme"})
    with store.engine.connect() as conn:
        (sealed,) = conn.execute(select(accounts.c.config_sealed)).one()
    assert b"s3cr3t-token" not in bytes(sealed)
    if settings.database_url.startswith("sqlite:///"):
        assert b"s3cr3t-token" not in Path(settings.database_url.removeprefix("sqlite:///")).read_bytes()
    assert store.get_account("acme").config["api_token"] == "s3cr3t-token"


def test_wrong_secret_key_is_a_clear_error(store: Store, settings: Settings) -> None:
    store.save_account("acme", "zendesk", {"api_token": "x"})
    other = Store.open(Settings(database_url=settings.database_url, secret_key=Fernet.generate_key().decode()))
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        other.get_account("acme")


def test_key_file_is_created_beside_the_store_with_private_mode(tmp_path: Path) -> None:
    s = Store.open(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}"))
    s.save_account("a", "zendesk", {"api_token": "t"})
    key = tmp_path / "deskhand.key"
    assert key.exists() and (key.stat().st_mode & 0o777) == 0o600
    again = Store.open(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}"))
    assert again.get_account("a").config == {"api_token": "t"}


def test_unknown_account_names_the_fix(store: Store) -> None:
    with pytest.raises(NotFoundError, match="deskhand accounts list"):
        store.get_account("nope")


def test_settings_merge_on_reconnect(store: Store) -> None:
    store.save_account("a", "zendesk", {"t": "1"}, settings={"auto_threshold": "0.9"})
    store.save_account("a", "zendesk", {"t": "2"}, settings={"escalation_team": "Tier 2"})
    acc = store.get_account("a")
    assert acc.settings == {"auto_threshold": "0.9", "escalation_team": "Tier 2"}
    assert acc.config == {"t": "2"}


def _event(delivery: str) -> Event:
    return Event(provider="zendesk", account="a", kind=EventKind.TICKET_CREATED, ticket_id="7", delivery_id=delivery)


def test_an_event_is_recorded_once_per_delivery_id(store: Store) -> None:
    with store.transaction() as c:
        first = store.record_event(c, "default", _event("d1"))
        again = store.record_event(c, "default", _event("d1"))
        other = store.record_event(c, "default", _event("d2"))
    assert first is not None and other is not None and again is None
    assert [e.event.delivery_id for e in store.list_events()] == ["d2", "d1"]


def test_articles_are_scoped_by_tenant(store: Store) -> None:
    chunk = {"kind": "knowledge_base", "title": "T", "heading": None, "text": "hello", "url": None}
    store.put_article("t1", source_id="kb/a.md", title="A", url=None, content_hash="h1", chunks=[chunk])
    store.put_article("t2", source_id="kb/b.md", title="B", url=None, content_hash="h2", chunks=[chunk, chunk])
    assert [c["source_id"] for c in store.chunks("t1")] == ["kb/a.md"]
    assert len(store.chunks("t2")) == 2
    v1 = store.kb_version("t1")
    store.remove_article("t1", "kb/a.md")
    assert store.chunks("t1") == [] and store.kb_version("t1") != v1
