"""The Redis refresh lock (deskhand.providers.oauth_lock) under the token store: it, not the row's
lease, decides who refreshes; a refresh of a version already replaced is refused; the lock's release
is token-checked (a holder whose lease lapsed never frees the next holder's lock); the tokens are
stored by compare-and-set; an unreachable Redis fails the refresh closed. Uses the machine's Redis
(127.0.0.1:6379, DESKHAND_TEST_REDIS_URL) under a key prefix per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from deskhand.errors import ProviderError
from deskhand.providers.oauth_lock import RedisRefreshLock
from deskhand.providers.oauth_tokens import TokenStore, refresh_lock
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.store import Store

REDIS_URL = os.environ.get("DESKHAND_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TOKENS = {"access_token": "at-1", "refresh_token": "rt-1", "expires_in": 600}


@pytest.fixture
def lock() -> Iterator[RedisRefreshLock]:
    prefix = f"deskhand:test:{uuid.uuid4().hex}:"
    held = RedisRefreshLock(redis.Redis.from_url(REDIS_URL, socket_timeout=2.0), prefix=prefix)
    yield held
    for key in held.client.scan_iter(match=prefix + "*"):
        held.client.delete(key)
    held.close()


@pytest.fixture
def tokens(store: Store, lock: RedisRefreshLock) -> TokenStore:
    ts = TokenStore(store.engine, store.box, clock=lambda: 1_000.0, lock=lock)
    ts.connect("acme", "zendesk", dict(TOKENS))
    return ts


def test_redis_decides_who_refreshes_not_the_row(tokens: TokenStore, lock: RedisRefreshLock) -> None:
    row = tokens.get("acme")
    assert row is not None
    other = lock.client.lock(lock.name("acme"), timeout=30, thread_local=False)  # another machine's refresh
    assert other.acquire(blocking=False)
    assert not tokens.acquire("acme", row.version, "me", 30)  # the row has no lease, yet Redis says no
    other.release()
    assert tokens.acquire("acme", row.version, "me", 30)
    assert not tokens.acquire("acme", row.version, "another", 30)
    assert tokens.refreshed("acme", "me", {**TOKENS, "access_token": "at-2", "refresh_token": "rt-2"})
    after = tokens.get("acme")
    assert after is not None and after.version == row.version + 1 and after.token["refresh_token"] == "rt-2"
    assert after.lease_owner is None and not lock.client.exists(lock.name("acme"))  # given back


def test_a_refresh_of_a_replaced_version_is_refused_and_gives_the_lock_back(
        tokens: TokenStore, lock: RedisRefreshLock) -> None:
    row = tokens.get("acme")
    assert row is not None
    tokens.connect("acme", "zendesk", {**TOKENS, "access_token": "at-new"})  # a reconnection meanwhile
    assert not tokens.acquire("acme", row.version, "me", 30)
    assert not lock.client.exists(lock.name("acme"))


def test_a_refresh_whose_version_moved_while_it_held_the_lock_stores_nothing(
        tokens: TokenStore, lock: RedisRefreshLock) -> None:
    row = tokens.get("acme")
    assert row is not None and tokens.acquire("acme", row.version, "me", 30)
    tokens.connect("acme", "zendesk", {**TOKENS, "access_token": "at-reconnected"})
    assert not tokens.refreshed("acme", "me", {**TOKENS, "access_token": "at-stale"})
    kept = tokens.get("acme")
    assert kept is not None and kept.token["access_token"] == "at-reconnected"
    assert not lock.client.exists(lock.name("acme"))


def test_release_is_token_checked_a_lapsed_holder_never_frees_the_next_ones_lock(
        tokens: TokenStore, lock: RedisRefreshLock) -> None:
    row = tokens.get("acme")
    assert row is not None and tokens.acquire("acme", row.version, "slow", 30)
    lock.client.delete(lock.name("acme"))  # its lease lapses (the key expires)
    assert tokens.acquire("acme", row.version, "next", 30)
    assert not lock.held("acme", "slow") and lock.held("acme", "next")
    tokens.release("acme", "slow")  # the slow one gives back what it no longer holds
    assert lock.held("acme", "next") and lock.client.exists(lock.name("acme"))
    assert not tokens.acquire("acme", row.version, "third", 30)


def test_an_unreachable_redis_fails_the_refresh_closed(store: Store) -> None:
    down = RedisRefreshLock(redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5))
    ts = TokenStore(store.engine, store.box, clock=lambda: 1_000.0, lock=down)
    ts.connect("acme", "zendesk", dict(TOKENS))
    row = ts.get("acme")
    assert row is not None
    with pytest.raises(ProviderError, match="unreachable"):
        ts.acquire("acme", row.version, "me", 30)
    assert ts.get("acme") == row  # nothing changed


def test_the_runtime_takes_the_redis_lock_when_the_deployment_has_redis(store: Store, settings: Settings) -> None:
    assert refresh_lock(None) is None
    without = Runtime(store, settings.model_copy(update={"redis_url": None}))
    with_redis = Runtime(store, settings.model_copy(update={"redis_url": REDIS_URL}))
    try:
        assert without.oauth_tokens.lock is None
        assert isinstance(with_redis.oauth_tokens.lock, RedisRefreshLock)
    finally:
        with_redis.close()
