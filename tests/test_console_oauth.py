"""Connecting by OAuth from the console (deskhand.console.oauth), browserless: an admin's "Connect by
OAuth" form and a needs-reauth account's "Reconnect" button redirect to the simulator's authorise URL
(state + PKCE, made by the same oauth_connect.start as the CLI); following it (the simulator approves at
once) to the gateway's /oauth/callback connects the account and resumes its waiting jobs. A viewer, a
reviewer, a POST without the CSRF token and another tenant's admin are refused and change nothing."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from fastapi.testclient import TestClient

from deskhand.console.users import create_user
from deskhand.responder.worker import Worker
from deskhand.settings import Settings
from deskhand.sim import zendesk_oauth
from deskhand.sim.base import ManualClock
from deskhand.sim.oauth_server import AuthServer
from deskhand.store import Store
from deskhand.store.tables_oauth import oauth_pending
from deskhand.testing.loop import Loop, sim_loop

PASSWORD = "correct horse battery"
CLIENT = ("deskhand-test-client", "client-secret-for-tests")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> AuthServer:
    monkeypatch.setenv("DESKHAND_OAUTH_ZENDESK_CLIENT_ID", CLIENT[0])
    monkeypatch.setenv("DESKHAND_OAUTH_ZENDESK_CLIENT_SECRET", CLIENT[1])
    return zendesk_oauth.auth_server(dict([CLIENT]), clock=ManualClock(time.time()), access_ttl_s=3600)


@pytest.fixture
def loop(store: Store, settings: Settings, server: AuthServer) -> Iterator[Loop]:
    with sim_loop("zendesk", store, settings, mode="auto", sim_extras={"oauth": server}) as running:
        for user, tenant, role in [("vic", "default", "viewer"), ("rita", "default", "reviewer"),
                                   ("ada", "default", "admin"), ("eve", "elsewhere", "admin")]:
            store.ensure_tenant(tenant)
            create_user(store.engine, user, tenant, role, PASSWORD)
        yield running


@pytest.fixture
def client(loop: Loop) -> Iterator[TestClient]:
    from deskhand.gateway.app import create_app

    with TestClient(create_app(loop.rt), base_url="http://testserver", follow_redirects=False) as c:
        yield c


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def _login(client: TestClient, username: str) -> str:
    form = client.get("/console/login")
    r = client.post("/console/login", data={"username": username, "password": PASSWORD, "next": "/console/accounts",
                                            "csrf_token": _csrf(form.text)})
    assert r.status_code == 303, r.text
    return _csrf(client.get("/console/accounts").text)


def _authorise_url(answer: httpx.Response, sim_url: str) -> dict[str, list[str]]:
    assert answer.status_code == 303, answer.text
    url = answer.headers["location"]
    assert url.startswith(f"{sim_url}/oauth/authorizations/new?"), url
    query = parse_qs(urlparse(url).query)
    assert query["response_type"] == ["code"] and query["client_id"] == [CLIENT[0]]
    assert query["code_challenge_method"] == ["S256"] and len(query["state"][0]) >= 32
    assert query["redirect_uri"] == ["http://testserver/oauth/callback/zendesk"]
    return query


def _approve(client: TestClient, authorise: str) -> dict:
    """The browser's part: the simulator approves at once and redirects to the gateway's callback."""
    back = httpx.get(authorise, follow_redirects=False, timeout=60)
    assert back.status_code in (302, 303), back.text
    target = urlparse(back.headers["location"])
    assert target.path == "/oauth/callback/zendesk"
    done = client.get(f"{target.path}?{target.query}")
    assert done.status_code == 200, done.text
    return done.json()


def _pending(loop: Loop) -> int:
    with loop.rt.store.engine.connect() as c:
        return len(c.execute(oauth_pending.select()).all())


def _connect_form(loop: Loop, csrf: str, name: str) -> dict[str, str]:
    return {"csrf_token": csrf, "provider": "zendesk", "name": name, "value_subdomain": "acme",
            "value_base_url": loop.sim.url}


def test_the_connect_form_redirects_an_admin_to_the_authorise_url_and_the_callback_connects(
        client: TestClient, loop: Loop) -> None:
    csrf = _login(client, "ada")
    accounts = client.get("/console/accounts")
    assert 'href="/console/accounts/connect"' in accounts.text
    assert "form-action 'self' https:" in accounts.headers["content-security-policy"]
    form = client.get("/console/accounts/connect?provider=zendesk")
    assert form.status_code == 200 and 'name="value_subdomain"' in form.text and "value_api_token" not in form.text
    answer = client.post("/console/accounts/connect", data=_connect_form(loop, csrf, "acme-oauth"))
    _authorise_url(answer, loop.sim.url)
    assert loop.rt.store.find_account("acme-oauth") is None  # nothing stored before the callback
    done = _approve(client, answer.headers["location"])
    assert done["status"] == "connected" and done["account"] == "acme-oauth" and done["tenant"] == "default"
    account = loop.rt.store.get_account("acme-oauth")
    assert account.tenant_id == "default" and account.config["auth"] == "oauth2"
    assert loop.rt.oauth_tokens.status("acme-oauth") == ("ok", None)


def test_bad_input_is_refused_and_changes_nothing(client: TestClient, loop: Loop) -> None:
    csrf = _login(client, "ada")
    before = _pending(loop)
    for change, why in [({"name": "Not A Name"}, "not usable in a URL"), ({"value_subdomain": ""}, "missing"),
                        ({"provider": "freshdesk"}, "not a provider deskhand connects by OAuth"),
                        ({"value_api_token": "x"}, "takes no api_token")]:
        r = client.post("/console/accounts/connect", data={**_connect_form(loop, csrf, "fresh"), **change})
        assert r.status_code == 400 and why in r.text, r.text
    assert _pending(loop) == before and loop.rt.store.find_account("fresh") is None


def test_viewers_reviewers_missing_csrf_and_other_tenants_are_refused(client: TestClient, loop: Loop) -> None:
    account = loop.account
    before = _pending(loop)
    for user in ("vic", "rita"):
        csrf = _login(client, user)
        assert "/reconnect" not in client.get("/console/accounts").text
        assert client.get("/console/accounts/connect").status_code == 403
        assert client.post("/console/accounts/connect", data=_connect_form(loop, csrf, "x1")).status_code == 403
        assert client.post(f"/console/accounts/{account}/reconnect", data={"csrf_token": csrf}).status_code == 403
    _login(client, "ada")
    assert client.post("/console/accounts/connect", data={**_connect_form(loop, "", "x2")}).status_code == 403
    assert client.post(f"/console/accounts/{account}/reconnect", data={}).status_code == 403
    csrf = _login(client, "eve")  # an admin of another tenant: the account is not theirs, nor its name
    assert client.post(f"/console/accounts/{account}/reconnect", data={"csrf_token": csrf}).status_code == 404
    taken = client.post("/console/accounts/connect", data=_connect_form(loop, csrf, account))
    assert taken.status_code == 400 and "is taken" in taken.text
    assert _pending(loop) == before and loop.rt.store.get_account(account).tenant_id == "default"


def test_reconnect_of_a_needs_reauth_account_resumes_its_waiting_jobs(
        client: TestClient, loop: Loop, server: AuthServer) -> None:
    csrf = _login(client, "ada")
    account = loop.account
    token_only = client.post(f"/console/accounts/{account}/reconnect", data={"csrf_token": csrf})
    assert token_only.status_code == 400 and "API token" in token_only.text and _pending(loop) == 0
    # the token account becomes an OAuth one through the console form (same tenant, same provider)
    answer = client.post("/console/accounts/connect", data=_connect_form(loop, csrf, account))
    assert _approve(client, answer.headers["location"])["status"] == "connected"
    assert "webhook_secret" in loop.rt.store.get_account(account).config  # its connection values are kept

    server.revoke_grant()
    worker = Worker(loop.rt, name="w1", lease_s=3600)
    tid = loop.create("Where are my invoices?", "Where can I download my invoices?")
    deadline = time.monotonic() + 60
    while loop.rt.oauth_tokens.status(account) != ("needs_reauth", "refresh refused: invalid_grant") \
            and time.monotonic() < deadline:
        worker.run_once()
    assert loop.rt.oauth_tokens.status(account)[0] == "needs_reauth"
    page = client.get("/console/accounts")
    assert "needs re-authorisation" in page.text and f'action="/console/accounts/{account}/reconnect"' in page.text
    assert not [d for d in loop.decisions(tid) if d["route"] == "auto"]

    answer = client.post(f"/console/accounts/{account}/reconnect", data={"csrf_token": _csrf(page.text)})
    _authorise_url(answer, loop.sim.url)
    done = _approve(client, answer.headers["location"])
    assert done["account"] == account and done["resumed_jobs"] >= 1
    assert loop.rt.oauth_tokens.status(account) == ("ok", None)
    assert "needs re-authorisation" not in client.get("/console/accounts").text
    loop.drain()
    assert len(loop.own_comments(tid)) == 1  # the waiting ticket answered, once
