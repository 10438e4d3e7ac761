"""OAuth accounts' auth (deskhand.providers.oauth + oauth_tokens + oauth_connect) against the Zendesk
simulator's authorisation server, one injected clock for both sides."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from deskhand.errors import PayloadError, ProviderError
from deskhand.gateway.metrics import LedgerCollector
from deskhand.providers.oauth import NeedsReauth, client_credentials
from deskhand.providers.oauth_connect import finish, start
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.sim import zendesk, zendesk_oauth
from deskhand.sim.base import ManualClock
from deskhand.sim.oauth_server import AuthServer
from deskhand.store import Store

CLIENT = ("deskhand-unit-client", "unit-secret")
ENV = {"DESKHAND_OAUTH_ZENDESK_CLIENT_ID": CLIENT[0], "DESKHAND_OAUTH_ZENDESK_CLIENT_SECRET": CLIENT[1]}


@dataclass
class World:
    rt: Runtime
    server: AuthServer
    sim: zendesk.ZendeskSim
    clock: ManualClock

    def authorise(self, **params: str) -> tuple[str, str]:
        """(state, code) as the browser's redirect carries them."""
        url = start(self.rt, "zendesk", "acme", {"subdomain": "acme", "base_url": self.sim.url},
                    public_url="http://127.0.0.1:9", tenant="default", env=ENV)
        location = httpx.get(url, follow_redirects=False, timeout=30).headers["location"]
        q = httpx.URL(location).params
        return q["state"], q["code"]

    def connect(self) -> None:
        finish(self.rt, "zendesk", *self.authorise(), env=ENV)

    def me(self) -> str:
        """Who the API says we are (a real call every time: current_user() is cached)."""
        connector = self.rt.connector(self.rt.store.get_account("acme"))
        return str(connector.http.request("GET", "/users/me.json").json()["user"]["email"])


@pytest.fixture
def world(store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    clock = ManualClock(time.time())
    server = zendesk_oauth.auth_server(dict([CLIENT]), clock=clock, access_ttl_s=600)
    sim = zendesk.start(oauth=server)
    rt = Runtime(store, settings)
    rt.queue.clock = clock
    try:
        yield World(rt, server, sim, clock)
    finally:
        sim.stop()
        rt.close()


@pytest.mark.parametrize(("advance", "refreshes"), [
    (0, 0), (500, 0), (541, 1), (600, 1), (5000, 1),
], ids=["fresh", "well-before-expiry", "within-the-60s-skew", "at-expiry", "long-expired"])
def test_a_token_is_refreshed_once_it_is_within_a_minute_of_expiry(world: World, advance: float,
                                                                    refreshes: int) -> None:
    world.connect()
    world.clock.advance(advance)
    assert world.me() and world.me()
    assert len(world.server.refresh_log) == refreshes


def test_a_401_to_a_live_token_refreshes_and_retries_once(world: World) -> None:
    world.connect()
    grant = world.server.grants[1]
    grant.access.clear()  # the helpdesk forgot the access token (not the grant)
    assert world.me()
    assert len(world.server.refresh_log) == 1


@pytest.mark.parametrize("how", ["revoked", "replayed-refresh-token"])
def test_a_dead_grant_puts_the_account_in_needs_reauth_once_with_a_warning(
    world: World, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    world.connect()
    if how == "revoked":
        world.server.revoke_grant()
    else:
        world.clock.advance(600)
        first = world.server.grants[1].refresh
        world.me()  # rotates it
        world.server.refresh_log.clear()
        httpx.post(f"{world.sim.url}/oauth/tokens", data={"grant_type": "refresh_token", "refresh_token": first,
                                                          "client_id": CLIENT[0], "client_secret": CLIENT[1]})
    world.clock.advance(600)
    with caplog.at_level(logging.WARNING), pytest.raises(NeedsReauth, match="deskhand connect zendesk --name acme"):
        world.me()
    with pytest.raises(NeedsReauth):  # refused at once afterwards: no more refresh attempts
        world.me()
    assert world.rt.oauth_tokens.status("acme") == ("needs_reauth", "refresh refused: invalid_grant")
    assert len([r for r in caplog.records if "needs re-authorisation" in r.getMessage()]) == 1
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LedgerCollector(world.rt))
    assert b'deskhand_account_needs_reauth{account="acme"} 1.0' in generate_latest(registry)


def test_an_unreachable_token_endpoint_is_retryable_and_frees_the_refresh(world: World) -> None:
    world.connect()
    world.clock.advance(600)
    world.sim.stop()
    with pytest.raises(ProviderError) as caught:
        world.me()
    assert caught.value.retryable and not isinstance(caught.value, NeedsReauth)
    row = world.rt.oauth_tokens.get("acme")
    assert row is not None and row.status == "ok" and row.lease_owner is None


@pytest.mark.parametrize("tamper", ["unknown-state", "state-used-twice", "other-provider"])
def test_a_callback_with_a_wrong_state_is_refused_and_stores_nothing(world: World, tamper: str) -> None:
    state, code = world.authorise()
    if tamper == "state-used-twice":
        finish(world.rt, "zendesk", state, code, env=ENV)
        world.rt.store.remove_account("acme")
        assert world.rt.oauth_tokens.get("acme") is None  # removing the account drops its sealed tokens
    with pytest.raises(PayloadError, match="OAuth state"):
        finish(world.rt, "jira" if tamper == "other-provider" else "zendesk",
               "forged" if tamper == "unknown-state" else state, code, env=ENV)
    assert world.rt.store.find_account("acme") is None


def test_the_client_credentials_come_from_the_environment_or_the_error_names_them() -> None:
    assert client_credentials("zendesk", ENV) == CLIENT
    with pytest.raises(Exception, match="DESKHAND_OAUTH_ZENDESK_CLIENT_ID and DESKHAND_OAUTH_ZENDESK_CLIENT_SECRET"):
        client_credentials("zendesk", {})


def test_the_unified_apis_connectors_use_the_oauth_tokens_too(world: World) -> None:
    from deskhand.api.live import LiveConnectors

    world.connect()
    live = LiveConnectors(world.rt)
    try:
        world.clock.advance(600)
        connector = live.get(world.rt.store.get_account("acme"))
        assert connector.http.request("GET", "/users/me.json").json()["user"]["email"]
        assert len(world.server.refresh_log) == 1
    finally:
        live.close()
