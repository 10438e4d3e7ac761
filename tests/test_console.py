"""The web console (deskhand.console) through starlette's TestClient on a real draft from the Zendesk
simulator loop: every page needs a login, every form its CSRF token, a user sees only their tenant,
and approving/rejecting calls the same review functions as the API (posted once, ledger settled)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from deskhand.console.session import COOKIE
from deskhand.console.users import create_user
from deskhand.responder.outcomes import entries
from deskhand.settings import Settings
from deskhand.sim import registry
from deskhand.store import Store
from deskhand.testing.loop import Loop, sim_loop

PASSWORD = "correct horse battery"


@pytest.fixture
def loop(store: Store, settings: Settings) -> Iterator[Loop]:
    with sim_loop(registry.default_slug(), store, settings, mode="draft") as running:
        create_user(store.engine, "rita", "default", "reviewer", PASSWORD)
        create_user(store.engine, "vic", "default", "viewer", PASSWORD)
        create_user(store.engine, "ada", "default", "admin", PASSWORD)
        store.ensure_tenant("elsewhere")
        create_user(store.engine, "eve", "elsewhere", "admin", PASSWORD)
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
    r = client.post("/console/login", data={"username": username, "password": PASSWORD, "next": "/console/review",
                                            "csrf_token": _csrf(form.text)})
    assert r.status_code == 303 and r.headers["location"] == "/console/review", r.text
    return _csrf(client.get("/console/review").text)


def _draft(loop: Loop, subject: str) -> tuple[str, int]:
    tid = loop.create(subject, f"{subject} I forgot my password. How do I reset it?")
    loop.drain()
    (decision,) = [d for d in loop.decisions(tid) if d["route"] == "draft"]
    return tid, int(decision["id"])


def _public(loop: Loop, tid: str) -> list[str]:
    return [c.body.strip() for c in loop.customer.list_comments(tid) if c.public]


@pytest.mark.parametrize("path", ["/console", "/console/review", "/console/review/1", "/console/decisions",
                                  "/console/decisions/1", "/console/switches", "/console/accounts"],
                         ids=["home", "queue", "draft", "decisions", "decision", "switches", "accounts"])
def test_every_page_redirects_to_login_without_a_session(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login?next=/console")


def test_a_forged_or_expired_cookie_is_no_session(client: TestClient) -> None:
    client.cookies.set(COOKIE, "eyJ1Ijoicml0YSIsIm4iOiJ4IiwieCI6OTk5OTk5OTk5OX0.forged", path="/console")
    assert client.get("/console/review").status_code == 303


def test_login_sets_an_httponly_samesite_cookie_and_a_wrong_password_is_refused(client: TestClient) -> None:
    form = client.get("/console/login")
    bad = client.post("/console/login", data={"username": "rita", "password": "nope", "csrf_token": _csrf(form.text)})
    assert bad.status_code == 401 and "Wrong username or password" in bad.text and COOKIE not in bad.cookies
    form = client.get("/console/login")
    ok = client.post("/console/login", data={"username": "rita", "password": PASSWORD, "csrf_token": _csrf(form.text),
                                             "next": "https://evil.example/"})
    assert ok.status_code == 303 and ok.headers["location"] == "/console/review"  # no open redirect
    cookie = next(h for h in ok.headers.get_list("set-cookie") if h.startswith(COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    assert client.get("/console/review").status_code == 200


def test_repeated_wrong_passwords_lock_the_username_for_the_window(client: TestClient) -> None:
    from deskhand.console.throttle import WINDOW_S, LoginThrottle

    now = [1000.0]
    client.app.state.console_throttle = LoginThrottle(clock=lambda: now[0])  # type: ignore[attr-defined]

    def attempt(password: str) -> int:
        form = client.get("/console/login")
        return client.post("/console/login", data={"username": "rita", "password": password,
                                                   "csrf_token": _csrf(form.text)}).status_code

    assert [attempt("guess") for _ in range(5)] == [401] * 5
    assert attempt(PASSWORD) == 429  # even the right password waits: the guesser learns nothing
    now[0] += WINDOW_S + 1
    assert attempt(PASSWORD) == 303


def test_the_login_form_itself_needs_its_csrf_token(client: TestClient) -> None:
    client.get("/console/login")
    r = client.post("/console/login", data={"username": "rita", "password": PASSWORD})
    assert r.status_code == 403 and COOKIE not in r.cookies


@pytest.mark.parametrize("headers,with_token", [({}, False), ({"Origin": "https://evil.example"}, True),
                                                 ({"Sec-Fetch-Site": "cross-site"}, True)],
                         ids=["no-token", "other-origin", "cross-site-fetch"])
def test_a_cross_site_post_is_refused_and_changes_nothing(loop: Loop, client: TestClient, headers: dict[str, str],
                                                          with_token: bool) -> None:
    tid, decision_id = _draft(loop, "Password reset")
    token = _login(client, "rita")
    data = {"body": "hijacked"} | ({"csrf_token": token} if with_token else {})
    r = client.post(f"/console/review/{decision_id}/approve", data=data, headers=headers)
    assert r.status_code == 403 and "CSRF" in r.text
    assert "hijacked" not in _public(loop, tid)
    assert f"/console/review/{decision_id}" in client.get("/console/review").text  # still waiting


def test_approving_from_the_draft_page_posts_the_reply_once_and_settles_the_ledger(loop: Loop, store: Store,
                                                                                   client: TestClient) -> None:
    tid, decision_id = _draft(loop, "How do I reset my password?")
    token = _login(client, "rita")
    queue = client.get("/console/review")
    assert f"/console/review/{decision_id}" in queue.text
    page = client.get(f"/console/review/{decision_id}")
    assert page.status_code == 200 and "Why it was not sent automatically" in page.text and "Sources" in page.text
    assert "I forgot my password" in page.text  # the ticket thread, read from the helpdesk
    reply = re.search(r'<textarea id="body" name="body"[^>]*>(.*?)</textarea>', page.text, re.S)
    assert reply and reply.group(1).strip()
    edited = "Hello! Use the reset link on the sign-in page. Best regards, Sam"
    r = client.post(f"/console/review/{decision_id}/approve", data={"body": edited, "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == f"/console/review?done=edited-{decision_id}"
    again = client.post(f"/console/review/{decision_id}/approve", data={"body": edited, "csrf_token": token})
    assert again.status_code == 303  # the same verdict again: answered, not posted twice
    assert _public(loop, tid).count(edited) == 1
    entry = next(e for e in entries(store) if e["decision_id"] == decision_id)
    assert entry["outcome"] in ("edited", "discarded") and "console:rita" in entry["signal"]
    assert f"/console/review/{decision_id}\"" not in client.get("/console/review").text
    dashboard = client.get("/console/outcomes").text  # the approved draft's reply is a measured first response
    assert re.search(r"<dt>First response p50 / p95</dt><dd>[^<]+ / [^<]+ <small>\(1 replies\)</small>", dashboard)


def test_an_unchanged_reply_sent_with_crlf_line_breaks_is_an_approval_not_an_edit(loop: Loop,
                                                                                   client: TestClient) -> None:
    tid, decision_id = _draft(loop, "Password help")
    token = _login(client, "rita")
    reply = next(d for d in loop.decisions(tid) if d["id"] == decision_id)["reply"]
    r = client.post(f"/console/review/{decision_id}/approve",
                    data={"body": reply.replace("\n", "\r\n"), "csrf_token": token})  # as a browser sends it
    assert r.status_code == 303 and r.headers["location"] == f"/console/review?done=approved-{decision_id}"
    assert _public(loop, tid).count(reply.strip()) == 1


def test_rejecting_needs_a_reason_posts_nothing_and_a_viewer_may_not(loop: Loop, store: Store,
                                                                     client: TestClient) -> None:
    tid, decision_id = _draft(loop, "Reset password please")
    before = _public(loop, tid)
    token = _login(client, "vic")
    assert "Draft" not in client.get("/console/review", params={"done": "Call 555-0100 now"}).text.split("<h1>")[1]
    assert "Viewers cannot approve" in client.get(f"/console/review/{decision_id}").text
    assert client.post(f"/console/review/{decision_id}/reject", data={"reason": "x", "csrf_token": token}
                       ).status_code == 403
    token = _login(client, "rita")
    empty = client.post(f"/console/review/{decision_id}/reject", data={"reason": " ", "csrf_token": token})
    assert empty.status_code == 409 and "needs a reason" in empty.text
    r = client.post(f"/console/review/{decision_id}/reject", data={"reason": "wrong product", "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == f"/console/review?done=rejected-{decision_id}"
    assert _public(loop, tid) == before
    entry = next(e for e in entries(store) if e["decision_id"] == decision_id)
    assert entry["outcome"] == "rejected" and "wrong product" in entry["signal"]


def test_a_user_of_another_tenant_sees_none_of_it(loop: Loop, client: TestClient) -> None:
    tid, decision_id = _draft(loop, "My password is lost")
    before = _public(loop, tid)
    token = _login(client, "eve")
    assert f"/console/review/{decision_id}" not in client.get("/console/review").text
    assert "acme" not in client.get("/console/decisions").text
    assert client.get(f"/console/review/{decision_id}").status_code == 404
    r = client.post(f"/console/review/{decision_id}/approve", data={"csrf_token": token})
    assert r.status_code == 404 and _public(loop, tid) == before
    trip = client.post("/console/switches/trip", data={"account": "acme", "reason": "x", "csrf_token": token})
    assert trip.status_code == 404


def test_an_admin_trips_and_resets_an_account_switch(loop: Loop, client: TestClient) -> None:
    token = _login(client, "rita")
    assert client.post("/console/switches/trip", data={"account": "acme", "reason": "x", "csrf_token": token}
                       ).status_code == 403  # reviewers do not hold switches
    token = _login(client, "ada")
    r = client.post("/console/switches/trip", data={"account": "acme", "cap": "shadow", "reason": "bad answers",
                                                    "csrf_token": token})
    assert r.status_code == 303
    page = client.get("/console/switches").text
    switch_id = int(re.search(r'action="/console/switches/(\d+)/reset"', page).group(1))  # type: ignore[union-attr]
    assert "bad answers" in page and "shadow" in page
    r = client.post(f"/console/switches/{switch_id}/reset", data={"reason": "fixed", "csrf_token": token})
    assert r.status_code == 303 and "reset by console:ada" in client.get("/console/switches").text


def test_a_decision_page_says_why_and_the_lists_filter(loop: Loop, client: TestClient) -> None:
    tid, decision_id = _draft(loop, "Password reset link")
    _login(client, "vic")
    listed = client.get("/console/decisions", params={"route": "draft", "ticket": tid})
    assert f'href="/console/decisions/{decision_id}"' in listed.text
    assert f'href="/console/decisions/{decision_id}"' not in client.get("/console/decisions",
                                                                       params={"route": "human"}).text
    page = client.get(f"/console/decisions/{decision_id}")
    assert page.status_code == 200 and "Why “draft”" in page.text and "Reset your password" in page.text
    assert "pending (mode draft)" in page.text
    category = next(d for d in loop.decisions(tid) if d["id"] == decision_id)["category"]
    assert f"/console/review/{decision_id}" in client.get("/console/review", params={"category": category}).text
    assert f"/console/review/{decision_id}" not in client.get("/console/review", params={"category": "billing_x"}).text
    _login(client, "eve")
    assert client.get(f"/console/decisions/{decision_id}").status_code == 404


def test_the_accounts_page_shows_the_tenants_accounts_only(loop: Loop, client: TestClient) -> None:
    _draft(loop, "Password reset again")
    _login(client, "vic")
    page = client.get("/console/accounts").text
    assert "<td>acme</td>" in page and 'href="/console/review?account=acme">1</a>' in page
    _login(client, "eve")
    assert "acme" not in client.get("/console/accounts").text


def test_logout_ends_the_session(client: TestClient) -> None:
    token = _login(client, "rita")
    assert client.post("/console/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/console/review").status_code == 303
