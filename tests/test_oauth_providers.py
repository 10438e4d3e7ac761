"""OAuth 2.0 for Linear, Front and ServiceNow, browserless, each against its simulator's authorisation
server: connect (the CLI prints the authorise URL; the gateway's callback exchanges the code), use,
expire (injected clock), refresh (rotated on Linear; Front and ServiceNow keep the refresh token),
revoke → needs_reauth with its jobs deferred and an alert, reconnect → the backlog answered once. No
token in plain text in the store, the logs or the CLI output. (Zendesk: test_oauth_flow.py.)"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from typer.testing import CliRunner

from deskhand.cli import app
from deskhand.outbound import create_endpoint, messages
from deskhand.queue.letters import list_jobs
from deskhand.responder.worker import Worker
from deskhand.settings import Settings
from deskhand.sim import front_oauth, linear_oauth, servicenow_spec
from deskhand.sim.base import ManualClock
from deskhand.sim.oauth_server import AuthServer
from deskhand.sim.servicenow_oauth import CodeFlow
from deskhand.store import Store
from deskhand.testing.loop import Loop, sim_loop

runner = CliRunner()
CLIENT = ("deskhand-oauth-client", "oauth-client-secret-for-tests")


def _servicenow(clients: dict[str, str], **options: Any) -> AuthServer:
    return CodeFlow(clients, user=servicenow_spec.ADMIN, **options)


# provider -> (its authorisation server, rotates refresh tokens, what the authorise URL must say)
PROVIDERS: dict[str, tuple[Callable[..., AuthServer], bool, dict[str, list[str]]]] = {
    "linear": (linear_oauth.auth_server, True,
               {"scope": ["read,write"], "actor": ["user"], "code_challenge_method": ["S256"]}),
    "front": (front_oauth.auth_server, False, {}),
    "servicenow": (_servicenow, False, {}),
}


def _every_token(server: AuthServer) -> list[str]:
    tokens: list[str] = []
    for grant in server.grants.values():
        tokens += list(grant.access) + list(grant.dead_refresh) + ([grant.refresh] if grant.refresh else [])
    return tokens


def _connect(loop: Loop, provider: str, expected: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
    """`deskhand connect <provider> --oauth`, then the browser's part: open the URL, follow the redirect."""
    result = runner.invoke(app, ["connect", provider, "--name", "acme", "--oauth", loop.gateway_url])
    assert result.exit_code == 0, result.output
    found = re.search(re.escape(loop.sim.url) + r"/\S+", result.output)
    assert found is not None, result.output
    query = parse_qs(urlparse(found.group(0)).query)
    assert query["response_type"] == ["code"] and query["client_id"] == [CLIENT[0]]
    assert len(query["state"][0]) >= 32 and query["redirect_uri"] == [f"{loop.gateway_url}/oauth/callback/{provider}"]
    for key, value in expected.items():
        assert query.get(key) == value, (key, query)
    if "code_challenge_method" not in expected:
        assert "code_challenge" not in query
    answer = httpx.get(found.group(0), follow_redirects=True, timeout=60)
    assert answer.status_code == 200, answer.text
    return result.output, answer.json()


def _run_due(loop: Loop, worker: Worker, clock: ManualClock) -> None:
    for _ in range(50):
        while worker.run_once():
            pass
        if not loop.rt.queue.counts().get("queued"):
            return
        clock.advance(5)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("DESKHAND_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DESKHAND_SECRET_KEY", str(settings.secret_key))
    for provider in PROVIDERS:
        monkeypatch.setenv(f"DESKHAND_OAUTH_{provider.upper()}_CLIENT_ID", CLIENT[0])
        monkeypatch.setenv(f"DESKHAND_OAUTH_{provider.upper()}_CLIENT_SECRET", CLIENT[1])


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_connect_use_expire_refresh_revoke_and_reconnect_answers_the_backlog_once(
    provider: str, store: Store, settings: Settings, env: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    make, rotates, expected = PROVIDERS[provider]
    clock = ManualClock(time.time())  # the CLI (another "process") stamps its pending state on the real clock
    server = make(dict([CLIENT]), clock=clock, access_ttl_s=600)
    with sim_loop(provider, store, settings, mode="auto", sim_extras={"oauth": server}) as loop:
        rt = loop.rt
        rt.queue.clock = clock
        # rt.sleep stays real: Front waits (really) for its asynchronous sends to appear
        worker = Worker(rt, name="w1", lease_s=3600)
        out1, done = _connect(loop, provider, expected)
        assert done["status"] == "connected" and done["account"] == "acme" and done["refresh_token"]
        account = store.get_account("acme")
        replaced = set(rt.connector(account).definition.oauth.replaces)  # type: ignore[union-attr]
        assert account.config["auth"] == "oauth2" and not replaced & set(account.config)
        first = rt.oauth_tokens.get("acme")
        assert first is not None and first.status == "ok" and first.expires_at is not None
        assert abs(first.expires_at - (clock() + 600)) <= 1  # expires_in, or Front's expires_at

        # use: a ticket is answered through the OAuth access token (the API token is gone from the account)
        t1 = loop.create("How do I reset my password?", "I forgot my password. How do I reset it?")
        _run_due(loop, worker, clock)
        assert len(loop.own_comments(t1)) == 1 and server.refresh_log == []

        # expire: the access token's 10 minutes pass; the next call refreshes first
        clock.advance(600)
        t2 = loop.create("How do I export my data?", "How can I export all my projects to CSV?")
        _run_due(loop, worker, clock)
        assert len(loop.own_comments(t2)) == 1
        second = rt.oauth_tokens.get("acme")
        assert second is not None and server.refresh_log == [first.token["refresh_token"]]
        assert second.token["access_token"] != first.token["access_token"] and second.version > first.version
        assert (second.token["refresh_token"] != first.token["refresh_token"]) is rotates

        # revoke: the helpdesk refuses the token, the refresh is refused → needs_reauth, nothing answered
        create_endpoint(rt, "default", "http://127.0.0.1:9/hooks", ["account.needs_reauth"])
        server.revoke_grant()
        backlog = [loop.create("Invite teammates", "How do I invite a teammate to my workspace?"),
                   loop.create("Where are my invoices?", "Where can I download my invoices?")]
        _run_due(loop, worker, clock)
        status = rt.oauth_tokens.status("acme")
        assert status is not None and status[0] == "needs_reauth" and "invalid_grant" in str(status[1])
        assert not any(loop.own_comments(t) for t in backlog)
        assert any(r.levelno == logging.WARNING and "needs re-authorisation" in r.getMessage() for r in caplog.records)
        assert [m["event_type"] for m in messages(rt, "default")] == ["account.needs_reauth"]
        listed = runner.invoke(app, ["accounts", "list", "--json"])
        (row,) = [a for a in json.loads(listed.output)["accounts"] if a["name"] == "acme"]
        assert (row["auth"], row["status"]) == ("oauth2", "needs_reauth")
        every = list_jobs(rt.store.engine, limit=1000)
        waiting = [j for j in every if j["status"] == "queued"]
        assert waiting and all((j["last_error"] or "").startswith("deferred: needs_reauth acme: ") for j in waiting)
        assert all(j["status"] != "dead" for j in every)

        # reconnect: the deferred jobs are due at once and the backlog is answered, each once
        out2, again = _connect(loop, provider, expected)
        assert again["resumed_jobs"] >= 1 and rt.oauth_tokens.status("acme") == ("ok", None)
        _run_due(loop, worker, clock)
        assert [len(loop.own_comments(t)) for t in [t1, t2, *backlog]] == [1, 1, 1, 1]

        # no token in plain text in the store, the logs or the CLI output
        issued = _every_token(server)
        assert len(issued) >= 3
        db = Path(settings.database_url.removeprefix("sqlite:///")).read_bytes()
        shown = out1 + out2 + listed.output + caplog.text
        for token in issued:
            assert token.encode() not in db and token not in shown
