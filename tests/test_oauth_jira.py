"""Atlassian OAuth 2.0 (3LO) for a Jira account, browserless, against the Jira simulator playing
auth.atlassian.com and api.atlassian.com: connect (the CLI prints the authorise URL with state and
audience; the gateway's callback exchanges the code, reads accessible-resources and picks the site),
use (calls through /ex/jira/{cloudid}), expire, refresh (rotated), revoke → needs_reauth + alert,
reconnect → the backlog answered once; a missing scope names the scope to add; several sites → the
user picks one. No token in plain text in the store, the logs or the CLI output."""

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
from deskhand.sim.base import ManualClock
from deskhand.sim.jira_oauth import AtlassianAuth, Site
from deskhand.store import Store
from deskhand.testing.loop import Loop, sim_loop

runner = CliRunner()
CLIENT = ("atlassian-test-client", "atlassian-secret-for-tests")
ACME = Site("11111111-2222-4333-8444-555555555555", "acme")
BETA = Site("99999999-8888-4777-8666-555555555555", "beta")


def _every_token(auth: AtlassianAuth) -> list[str]:
    tokens: list[str] = []
    for grant in auth.server.grants.values():
        tokens += list(grant.access) + list(grant.dead_refresh) + ([grant.refresh] if grant.refresh else [])
    return tokens


def _authorise(loop: Loop, *extra: str) -> tuple[str, httpx.Response]:
    """`deskhand connect jira --oauth`, then the browser's part: open the URL, follow the redirect."""
    result = runner.invoke(app, ["connect", "jira", "--name", "acme", "--oauth", loop.gateway_url,
                                 "--base-url", loop.sim.url, *extra])
    assert result.exit_code == 0, result.output
    url = re.search(r"(http://\S+/authorize\?\S+)", result.output)
    assert url is not None, result.output
    query = parse_qs(urlparse(url.group(1)).query)
    assert query["response_type"] == ["code"] and query["client_id"] == [CLIENT[0]]
    assert query["audience"] == ["api.atlassian.com"] and query["prompt"] == ["consent"]
    assert set(query["scope"][0].split()) == {"read:jira-work", "write:jira-work", "read:jira-user", "offline_access"}
    assert "code_challenge" not in query and len(query["state"][0]) >= 32  # Atlassian documents no PKCE
    assert query["redirect_uri"] == [f"{loop.gateway_url}/oauth/callback/jira"]
    return result.output, httpx.get(url.group(1), follow_redirects=True, timeout=60)


def _connect(loop: Loop, *extra: str) -> tuple[str, dict]:
    out, answer = _authorise(loop, *extra)
    assert answer.status_code == 200, answer.text
    return out, answer.json()


def _run_due(loop: Loop, worker: Worker, clock: ManualClock) -> None:
    for _ in range(50):
        while worker.run_once():
            pass
        if not loop.rt.queue.counts().get("queued"):
            return
        clock.advance(5)


def _replies(loop: Loop, key: str, account_id: str) -> int:
    """Public comments on the issue by the user who authorised deskhand (from the simulator's state)."""
    issue = loop.sim.state.issue(key)
    return len([c for c in issue.comments if c.author == account_id and not c.internal])


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("DESKHAND_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DESKHAND_SECRET_KEY", str(settings.secret_key))
    monkeypatch.setenv("DESKHAND_OAUTH_JIRA_CLIENT_ID", CLIENT[0])
    monkeypatch.setenv("DESKHAND_OAUTH_JIRA_CLIENT_SECRET", CLIENT[1])


def test_connect_use_expire_refresh_revoke_and_reconnect_answers_the_backlog_once(
    store: Store, settings: Settings, env: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    clock = ManualClock(time.time())
    auth = AtlassianAuth(dict([CLIENT]), sites=[ACME, BETA], clock=clock, access_ttl_s=600)
    with sim_loop("jira", store, settings, mode="auto", sim_extras={"oauth": auth}) as loop:
        rt = loop.rt
        rt.queue.clock = clock
        rt.sleep = clock.advance
        worker = Worker(rt, name="w1", lease_s=3600)
        agent = next(u for u in loop.sim.state.users.values() if u.account_type == "atlassian").account_id
        out1, done = _connect(loop)  # the account's site (acme) picks one of the two the grant reaches
        assert done["status"] == "connected" and done["account"] == "acme" and done["refresh_token"]
        account = store.get_account("acme")
        assert account.config["auth"] == "oauth2" and "api_token" not in account.config
        assert (account.config["cloudid"], account.config["site"]) == (ACME.cloud_id, "acme")
        first = rt.oauth_tokens.get("acme")
        assert first is not None and first.status == "ok"

        # use: an issue is answered through the API gateway with the 3LO access token
        t1 = loop.create("How do I reset my password?", "I forgot my password. How do I reset it?")
        _run_due(loop, worker, clock)
        assert _replies(loop, t1, agent) == 1 and auth.server.refresh_log == []

        # expire: the 10 minutes pass (the CLI's pending state is on the real clock: under 15 minutes);
        # the next call refreshes first, and the refresh token rotates
        clock.advance(600)
        t2 = loop.create("How do I export my data?", "How can I export all my projects to CSV?")
        _run_due(loop, worker, clock)
        assert _replies(loop, t2, agent) == 1
        second = rt.oauth_tokens.get("acme")
        assert second is not None and auth.server.refresh_log == [first.token["refresh_token"]]
        assert second.token["refresh_token"] != first.token["refresh_token"]
        assert second.token["access_token"] != first.token["access_token"] and second.version > first.version

        # revoke: the gateway refuses the token, the refresh gets 403 invalid_grant → needs_reauth
        create_endpoint(rt, "default", "http://127.0.0.1:9/hooks", ["account.needs_reauth"])
        auth.server.revoke_grant()
        backlog = [loop.create("Invite teammates", "How do I invite a teammate to my workspace?"),
                   loop.create("Where are my invoices?", "Where can I download my invoices?")]
        _run_due(loop, worker, clock)
        assert rt.oauth_tokens.status("acme") == ("needs_reauth", "refresh refused: invalid_grant")
        assert not any(_replies(loop, t, agent) for t in backlog)
        assert any(r.levelno == logging.WARNING and "needs re-authorisation" in r.getMessage() for r in caplog.records)
        assert oauth_module.reauth_alerts >= 1
        assert [m["event_type"] for m in messages(rt, "default")] == ["account.needs_reauth"]
        listed = runner.invoke(app, ["accounts", "list", "--json"])
        (row,) = [a for a in json.loads(listed.output)["accounts"] if a["name"] == "acme"]
        assert (row["auth"], row["status"]) == ("oauth2", "needs_reauth") and "invalid_grant" in row["reason"]
        waiting = [j for j in list_jobs(rt.store.engine, limit=1000) if j["status"] == "queued"]
        assert waiting and all((j["last_error"] or "").startswith("deferred: needs_reauth acme: ") for j in waiting)

        # reconnect: the deferred jobs are due at once and the backlog is answered, each once
        out2, again = _connect(loop)
        assert again["resumed_jobs"] >= 1 and rt.oauth_tokens.status("acme") == ("ok", None)
        _run_due(loop, worker, clock)
        assert [_replies(loop, t, agent) for t in [t1, t2, *backlog]] == [1, 1, 1, 1]
        assert all(j["status"] != "dead" for j in list_jobs(rt.store.engine, limit=1000))

        # nothing sealed is readable: no token in the store, the logs or the CLI output
        issued = _every_token(auth)
        assert len(issued) >= 5
        db = Path(settings.database_url.removeprefix("sqlite:///")).read_bytes()
        shown = out1 + out2 + listed.output + caplog.text
        for token in issued:
            assert token.encode() not in db and token not in shown


def test_a_call_outside_the_grant_names_the_scope_to_add_and_pauses_the_account(
    store: Store, settings: Settings, env: None
) -> None:
    clock = ManualClock(time.time())
    auth = AtlassianAuth(dict([CLIENT]), sites=[ACME], clock=clock)
    with sim_loop("jira", store, settings, mode="auto", sim_extras={"oauth": auth}) as loop:
        rt = loop.rt
        rt.queue.clock = clock
        _connect(loop)
        # the site admin narrows the app: reading is still allowed, writing is not
        auth.server.set_scope("read:jira-work read:jira-user offline_access")
        connector = rt.connector(store.get_account("acme"))
        key = loop.create("Where are my invoices?", "Where can I download my invoices?")
        assert connector.get_ticket(key).subject == "Where are my invoices?"
        refreshes = len(auth.server.refresh_log)
        with pytest.raises(oauth_module.ScopeMissing) as caught:
            connector.http.request("POST", f"/issue/{key}/comment", json={"body": "Here they are."})
        assert caught.value.scopes == ["write:jira-work"] and "write:jira-work" in str(caught.value)
        assert "reconnect" in str(caught.value) and len(auth.server.refresh_log) == refreshes  # no refresh spent
        status, reason = rt.oauth_tokens.status("acme") or ("", "")
        assert status == "needs_reauth" and "write:jira-work" in str(reason)
        assert loop.sim.state.issue(key).comments == []  # nothing was written


def test_several_sites_are_listed_until_one_is_picked(store: Store, settings: Settings, env: None) -> None:
    auth = AtlassianAuth(dict([CLIENT]), sites=[ACME, BETA])
    with sim_loop("jira", store, settings, mode="auto", sim_extras={"oauth": auth}) as loop:
        before = store.get_account("acme").config
        _, refused = _authorise(loop, "--site", "gamma")  # a site the grant does not reach
        assert refused.status_code == 400
        message = refused.json()["message"]
        assert "acme" in message and "beta" in message and BETA.cloud_id in message and "--site" in message
        assert store.get_account("acme").config == before  # nothing was stored
        _, done = _connect(loop, "--site", "beta")
        account = store.get_account("acme")
        assert done["status"] == "connected" and (account.config["site"], account.config["cloudid"]) == (
            "beta", BETA.cloud_id)
