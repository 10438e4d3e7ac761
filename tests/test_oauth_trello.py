"""Trello by OAuth 1.0a, browserless, against the simulator's /1/OAuthGetRequestToken,
/1/OAuthAuthorizeToken and /1/OAuthGetAccessToken (signatures checked): connect (the CLI prints the
authorise URL; the gateway's callback trades oauth_token + oauth_verifier for the member's token), use,
expire (a 1day token, injected clock: Trello tokens never refresh) → needs_reauth, reconnect → the backlog
answered once, revoke → needs_reauth with an alert, reconnect → answered once. No token in plain text in
the store, the logs or the CLI output."""

from __future__ import annotations

import json
import logging
import re
import time
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
from deskhand.sim import trello
from deskhand.sim.base import ManualClock
from deskhand.store import Store
from deskhand.testing.loop import SECRET, Loop, sim_loop

runner = CliRunner()


def _connect(loop: Loop, expiration: str) -> tuple[str, dict[str, Any]]:
    result = runner.invoke(app, ["connect", "trello", "--name", "acme", "--oauth", loop.gateway_url,
                                 "--expiration", expiration])
    assert result.exit_code == 0, result.output
    found = re.search(re.escape(loop.sim.url) + r"/1/OAuthAuthorizeToken\?\S+", result.output)
    assert found is not None, result.output
    query = parse_qs(urlparse(found.group(0)).query)
    assert query["name"] == ["deskhand"] and query["scope"] == ["read,write"]
    assert query["expiration"] == [expiration] and query["oauth_token"][0]
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


def _waiting_for_reauth(loop: Loop) -> list[dict[str, Any]]:
    waiting = [j for j in list_jobs(loop.rt.store.engine, limit=1000) if j["status"] == "queued"]
    assert waiting and all((j["last_error"] or "").startswith("deferred: needs_reauth acme: ") for j in waiting)
    return waiting


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("DESKHAND_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DESKHAND_SECRET_KEY", str(settings.secret_key))
    monkeypatch.setenv("DESKHAND_OAUTH_TRELLO_CLIENT_ID", trello.DEFAULT_KEY)  # the Power-Up's API key
    monkeypatch.setenv("DESKHAND_OAUTH_TRELLO_CLIENT_SECRET", SECRET)  # and its secret (signs webhooks too)


def test_connect_use_expire_reconnect_revoke_and_reconnect_answers_the_backlog_once(
    store: Store, settings: Settings, env: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # deskhand's clock starts a day and an hour back: the day the token lasts passes on it, and the CLI's
    # pending connections (stamped on the real clock, another "process") are still young when it has
    clock = ManualClock(time.time() - 90_000)
    with sim_loop("trello", store, settings, mode="auto") as loop:
        rt = loop.rt
        rt.queue.clock = clock
        worker = Worker(rt, name="w1", lease_s=3600)
        create_endpoint(rt, "default", "http://127.0.0.1:9/hooks", ["account.needs_reauth"])
        out1, done = _connect(loop, "1day")
        assert done["status"] == "connected" and done["account"] == "acme" and not done["refresh_token"]
        account = store.get_account("acme")
        assert account.config["auth"] == "oauth1" and "token" not in account.config
        assert account.config["api_key"] == trello.DEFAULT_KEY
        first = rt.oauth_tokens.get("acme")
        assert first is not None and first.expires_at is not None and abs(first.expires_at - clock() - 86_400) <= 1
        issued = [first.token["access_token"]]

        # use: a card is answered with the member token the authorisation bought
        t1 = loop.create("How do I reset my password?", "I forgot my password. How do I reset it?")
        _run_due(loop, worker, clock)
        assert len(loop.own_comments(t1)) == 1

        # expire: the day passes; Trello tokens do not refresh, so the account waits for a reconnection
        clock.advance(86_400)
        t2 = loop.create("How do I export my data?", "How can I export all my projects to CSV?")
        _run_due(loop, worker, clock)
        status = rt.oauth_tokens.status("acme")
        assert status is not None and status[0] == "needs_reauth" and "expired" in str(status[1])
        assert not loop.own_comments(t2) and _waiting_for_reauth(loop)
        assert any(r.levelno == logging.WARNING and "needs re-authorisation" in r.getMessage() for r in caplog.records)
        assert "account.needs_reauth" in [m["event_type"] for m in messages(rt, "default")]

        # reconnect (a token that never expires): the deferred job is answered, once
        out2, again = _connect(loop, "never")
        assert again["resumed_jobs"] >= 1 and rt.oauth_tokens.status("acme") == ("ok", None)
        second = rt.oauth_tokens.get("acme")
        assert second is not None and second.expires_at is None
        issued.append(second.token["access_token"])
        _run_due(loop, worker, clock)
        assert [len(loop.own_comments(t)) for t in (t1, t2)] == [1, 1]

        # revoke: the member withdraws the token; Trello answers 401 invalid token → needs_reauth
        with loop.sim.state.lock:
            del loop.sim.state.tokens[second.token["access_token"]]
        backlog = [loop.create("Invite teammates", "How do I invite a teammate to my workspace?"),
                   loop.create("Where are my invoices?", "Where can I download my invoices?")]
        _run_due(loop, worker, clock)
        status = rt.oauth_tokens.status("acme")
        assert status is not None and status[0] == "needs_reauth"
        assert not any(loop.own_comments(t) for t in backlog) and _waiting_for_reauth(loop)
        listed = runner.invoke(app, ["accounts", "list", "--json"])
        (row,) = [a for a in json.loads(listed.output)["accounts"] if a["name"] == "acme"]
        assert (row["auth"], row["status"]) == ("oauth1", "needs_reauth")
        assert all(j["status"] != "dead" for j in list_jobs(rt.store.engine, limit=1000))

        # reconnect: the backlog is answered, each card once
        out3, _ = _connect(loop, "never")
        third = rt.oauth_tokens.get("acme")
        assert third is not None
        issued.append(third.token["access_token"])
        _run_due(loop, worker, clock)
        assert [len(loop.own_comments(t)) for t in [t1, t2, *backlog]] == [1, 1, 1, 1]

        # no token in plain text in the store, the logs or the CLI output
        assert len(set(issued)) == 3
        db = Path(settings.database_url.removeprefix("sqlite:///")).read_bytes()
        shown = out1 + out2 + out3 + listed.output + caplog.text
        for token in issued:
            assert token.encode() not in db and token not in shown
