"""OAuth 2.0 for a Zendesk account, browserless, against the simulator's authorisation server:
connect (CLI prints the authorise URL with state + PKCE; the gateway's callback exchanges the code),
use, expire (injected clock), refresh (rotated), revoke → needs_reauth with its jobs deferred and an
alert, reconnect → the backlog answered once. No token in plain text in the store, logs or CLI output."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from typer.testing import CliRunner

from deskhand.cli import app
from deskhand.outbound import create_endpoint, messages
from deskhand.providers import oauth as oauth_module
from deskhand.queue.letters import list_jobs
from deskhand.responder.worker import Worker
from deskhand.settings import Settings
from deskhand.sim import zendesk_oauth
from deskhand.sim.base import ManualClock
from deskhand.sim.oauth_server import AuthServer
from deskhand.store import Store
from deskhand.testing.loop import Loop, sim_loop

runner = CliRunner()
CLIENT = ("deskhand-test-client", "client-secret-for-tests")


def _every_token(server: AuthServer) -> list[str]:
    tokens: list[str] = []
    for grant in server.grants.values():
        tokens += list(grant.access) + list(grant.dead_refresh) + ([grant.refresh] if grant.refresh else [])
    return tokens


def _connect(loop: Loop, sim_url: str) -> tuple[str, dict]:
    """`deskhand connect zendesk --oauth`, then the browser's part: open the URL, follow the redirect."""
    result = runner.invoke(app, ["connect", "zendesk", "--name", "acme", "--oauth", loop.gateway_url,
                                 "--subdomain", "acme", "--base-url", sim_url])  # the webhook secret is kept
    assert result.exit_code == 0, result.output
    url = re.search(r"(http://\S+/oauth/authorizations/new\?\S+)", result.output)
    assert url is not None, result.output
    query = parse_qs(urlparse(url.group(1)).query)
    assert query["response_type"] == ["code"] and query["client_id"] == [CLIENT[0]]
    assert query["code_challenge_method"] == ["S256"] and len(query["state"][0]) >= 32
    assert query["redirect_uri"] == [f"{loop.gateway_url}/oauth/callback/zendesk"]
    answer = httpx.get(url.group(1), follow_redirects=True, timeout=60)
    assert answer.status_code == 200, answer.text
    return result.output, answer.json()


def _run_due(loop: Loop, worker: Worker, clock: ManualClock) -> None:
    for _ in range(50):
        while worker.run_once():
            pass
        if not loop.rt.queue.counts().get("queued"):
            return
        clock.advance(5)


def _replies(loop: Loop, tid: str, agent: str) -> int:
    """Public comments on the ticket by the agent who authorised deskhand (from the simulator's state)."""
    state = loop.sim.state
    me = state.user_by_email(agent)
    return len([c for c in state.list_comments(int(tid)) if c["author_id"] == me["id"] and c["public"]])


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("DESKHAND_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DESKHAND_SECRET_KEY", str(settings.secret_key))
    monkeypatch.setenv("DESKHAND_OAUTH_ZENDESK_CLIENT_ID", CLIENT[0])
    monkeypatch.setenv("DESKHAND_OAUTH_ZENDESK_CLIENT_SECRET", CLIENT[1])


def test_connect_use_expire_refresh_revoke_and_reconnect_answers_the_backlog_once(
    store: Store, settings: Settings, env: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    clock = ManualClock(time.time())  # the CLI (another "process") stamps its pending state on the real clock
    server = zendesk_oauth.auth_server(dict([CLIENT]), clock=clock, access_ttl_s=600)
    with sim_loop("zendesk", store, settings, mode="auto", sim_extras={"oauth": server}) as loop:
        rt = loop.rt
        rt.queue.clock = clock
        rt.sleep = clock.advance
        worker = Worker(rt, name="w1", lease_s=3600)
        out1, done = _connect(loop, loop.sim.url)
        assert done["status"] == "connected" and done["account"] == "acme" and done["refresh_token"]
        agent = done["user"]
        account = store.get_account("acme")
        assert account.config["auth"] == "oauth2" and "api_token" not in account.config
        first = rt.oauth_tokens.get("acme")
        assert first is not None and first.status == "ok"

        # use: a ticket is answered through the OAuth access token
        t1 = loop.create("How do I reset my password?", "I forgot my password. How do I reset it?")
        _run_due(loop, worker, clock)
        assert _replies(loop, t1, agent) == 1 and server.refresh_log == []

        # expire: the access token's 10 minutes pass; the next call refreshes first (rotated)
        clock.advance(600)
        t2 = loop.create("How do I export my data?", "How can I export all my projects to CSV?")
        _run_due(loop, worker, clock)
        assert _replies(loop, t2, agent) == 1
        second = rt.oauth_tokens.get("acme")
        assert second is not None and server.refresh_log == [first.token["refresh_token"]]
        assert second.token["refresh_token"] != first.token["refresh_token"]
        assert second.token["access_token"] != first.token["access_token"] and second.version > first.version

        # revoke: the helpdesk refuses the token, the refresh gets invalid_grant → needs_reauth
        create_endpoint(rt, "default", "http://127.0.0.1:9/hooks", ["account.needs_reauth"])
        server.revoke_grant()
        backlog = [loop.create("Invite teammates", "How do I invite a teammate to my workspace?"),
                   loop.create("Where are my invoices?", "Where can I download my invoices?")]
        _run_due(loop, worker, clock)
        assert rt.oauth_tokens.status("acme") == ("needs_reauth", "refresh refused: invalid_grant")
        assert not any(_replies(loop, t, agent) for t in backlog)
        assert any(r.levelno == logging.WARNING and "needs re-authorisation" in r.getMessage() for r in caplog.records)
        assert oauth_module.reauth_alerts >= 1
        sent = messages(rt, "default")
        assert [m["event_type"] for m in sent] == ["account.needs_reauth"], sent
        listed = runner.invoke(app, ["accounts", "list", "--json"])
        (row,) = [a for a in json.loads(listed.output)["accounts"] if a["name"] == "acme"]
        assert (row["auth"], row["status"]) == ("oauth2", "needs_reauth") and "invalid_grant" in row["reason"]
        every = list_jobs(rt.store.engine, limit=1000)
        waiting = [j for j in every if j["status"] == "queued"]
        assert waiting and all((j["last_error"] or "").startswith("deferred: needs_reauth acme: ") for j in waiting)
        assert all(j["status"] != "dead" for j in every) and all(j["attempts"] <= 1 for j in waiting)

        # reconnect: the deferred jobs are due at once and the backlog is answered, each once
        out2, again = _connect(loop, loop.sim.url)
        assert again["resumed_jobs"] >= 1 and rt.oauth_tokens.status("acme") == ("ok", None)
        _run_due(loop, worker, clock)
        assert [_replies(loop, t, agent) for t in [t1, t2, *backlog]] == [1, 1, 1, 1]
        # a later `connect --update` of the OAuth account keeps it on OAuth (no API token asked for)
        updated = runner.invoke(app, ["connect", "zendesk", "--name", "acme", "--update",
                                      "--setting", "supported_languages=en,de"])
        assert updated.exit_code == 0, updated.output
        assert store.get_account("acme").config["auth"] == "oauth2"

        # nothing sealed is readable: no token in the store, the logs or the CLI output
        issued = _every_token(server)
        assert len(issued) >= 4
        db = Path(settings.database_url.removeprefix("sqlite:///")).read_bytes()
        shown = out1 + out2 + listed.output + updated.output + caplog.text
        for token in issued:
            assert token.encode() not in db and token not in shown
