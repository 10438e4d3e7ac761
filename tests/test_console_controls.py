"""The console's controls (deskhand.console.controls, .jobs, .switches): an admin changes an autonomy
mode or a threshold with a reason, resets a kill switch with a reason, retries or drops a dead
letter — each change stored with its audit row (who, when, old → new, why) and shown on the audit
page; viewers and reviewers may look but not change; another tenant sees and changes nothing; a
POST without the CSRF token changes nothing. Real store (SQLite and PostgreSQL), no helpdesk."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from deskhand import audit
from deskhand.console.users import create_user
from deskhand.model import Event, EventKind
from deskhand.responder.modes import get_mode
from deskhand.responder.switches import list_switches, trip
from deskhand.runtime import Runtime
from deskhand.store import Store
from deskhand.store.schema import jobs

pytestmark = pytest.mark.every_backend
PASSWORD = "correct horse battery"


def _account(store: Store, name: str, tenant: str) -> None:
    store.save_account(name, "zendesk", {"subdomain": name, "email": "a@x.test", "api_token": "t",
                                         "webhook_secret": "s", "base_url": "http://127.0.0.1:9"}, tenant_id=tenant)


def _dead_job(store: Store, rt: Runtime, account: str, tenant: str) -> int:
    ev = Event(provider="zendesk", account=account, kind=EventKind.TICKET_CREATED, ticket_id="1",
               delivery_id=f"d-{account}")
    with store.transaction() as conn:
        event_id = store.record_event(conn, tenant, ev)
        job_id = rt.queue.enqueue(conn, "handle_event", {"event_id": event_id}, dedupe_key=f"event:{event_id}")
    assert job_id is not None
    with store.engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(status="dead", last_error="helpdesk down"))
    return int(job_id)


@pytest.fixture
def rt(store: Store) -> Runtime:
    _account(store, "acme", "default")
    _account(store, "globex", "elsewhere")
    for name, tenant, role in (("ada", "default", "admin"), ("rita", "default", "reviewer"),
                               ("vic", "default", "viewer"), ("eve", "elsewhere", "admin")):
        create_user(store.engine, name, tenant, role, PASSWORD)
    return Runtime(store)


@pytest.fixture
def client(rt: Runtime) -> Iterator[TestClient]:
    from deskhand.gateway.app import create_app

    with TestClient(create_app(rt), base_url="http://testserver", follow_redirects=False) as c:
        yield c


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def _login(client: TestClient, username: str) -> str:
    form = client.get("/console/login")
    r = client.post("/console/login", data={"username": username, "password": PASSWORD, "next": "/console/controls",
                                            "csrf_token": _csrf(form.text)})
    assert r.status_code == 303, r.text
    return _csrf(client.get("/console/controls").text)


@pytest.mark.parametrize("path", ["/console/controls", "/console/audit", "/console/jobs", "/console/outcomes"],
                         ids=["controls", "audit", "jobs", "outcomes"])
def test_the_new_pages_need_a_login(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login?next=/console")


def test_an_admin_sets_a_category_mode_with_a_reason_and_the_audit_log_shows_it(client: TestClient,
                                                                                  store: Store) -> None:
    token = _login(client, "ada")
    page = client.get("/console/controls").text
    assert "Modes of acme" in page and "globex" not in page
    form = {"account": "acme", "category": "billing", "mode": "canary", "canary_share": "25",
            "reason": "drafts were clean for two weeks", "csrf_token": token}
    r = client.post("/console/controls/mode", data=form)
    assert r.status_code == 303, r.text
    setting = get_mode(store, "acme", "billing")
    assert setting.mode.value == "canary" and setting.canary_share == 0.25 and setting.updated_by == "console:ada"
    (row,) = audit.entries(store.engine, "default", action="mode.set")
    assert (row["actor"], row["target"], row["old"], row["new"], row["reason"]) == (
        "console:ada", "acme/billing", "draft (inherited)", "canary 25%", "drafts were clean for two weeks")
    shown = client.get("/console/audit").text
    assert "drafts were clean for two weeks" in shown and "draft (inherited) → canary 25%" in shown
    assert "acme/billing" in client.get("/console/controls", params={"account": "acme"}).text


@pytest.mark.parametrize("form,error", [
    ({"mode": "auto", "reason": ""}, "needs a reason"),
    ({"mode": "turbo", "reason": "x"}, "unknown mode"),
    ({"mode": "canary", "canary_share": "150", "reason": "x"}, "between 0 and 1"),
    ({"mode": "canary", "canary_share": "ten", "reason": "x"}, "percentage"),
    ({"mode": "auto", "category": "no_such_category", "reason": "x"}, "unknown category"),
], ids=["no-reason", "bad-mode", "share-over-100", "share-not-a-number", "bad-category"])
def test_a_bad_mode_change_is_refused_and_changes_nothing(client: TestClient, store: Store, form: dict[str, str],
                                                          error: str) -> None:
    token = _login(client, "ada")
    r = client.post("/console/controls/mode", data={"account": "acme", "category": "*", "csrf_token": token, **form})
    assert r.status_code == 400 and error in r.text
    assert get_mode(store, "acme").mode.value == "draft" and get_mode(store, "acme").inherited
    assert audit.entries(store.engine, "default") == []


def test_only_admins_change_and_other_tenants_and_cross_site_posts_change_nothing(client: TestClient,
                                                                                  store: Store) -> None:
    form = {"account": "acme", "category": "*", "mode": "auto", "reason": "x"}
    for who in ("vic", "rita"):
        token = _login(client, who)
        page = client.get("/console/controls").text
        assert "Set mode" not in page and "Save thresholds" not in page  # they see, without the forms' buttons
        assert client.post("/console/controls/mode", data={**form, "csrf_token": token}).status_code == 403
        assert client.post("/console/controls/thresholds", data={"account": "acme", "auto_threshold": "0.5",
                                                                 "reason": "x", "csrf_token": token}).status_code == 403
    token = _login(client, "eve")
    assert "acme" not in client.get("/console/controls").text
    assert client.post("/console/controls/mode", data={**form, "csrf_token": token}).status_code == 404
    assert client.post("/console/controls/thresholds", data={"account": "acme", "auto_threshold": "0.5", "reason": "x",
                                                             "csrf_token": token}).status_code == 404
    _login(client, "ada")
    assert client.post("/console/controls/mode", data=form).status_code == 403  # no CSRF token
    assert get_mode(store, "acme").mode.value == "draft"
    assert store.get_account("acme").settings.get("auto_threshold") is None
    assert audit.entries(store.engine, "default") == [] and "acme" not in client.get("/console/audit").text.split(
        "<h2>")[1]  # nothing in the console's audit rows


def test_an_admin_changes_thresholds_checked_together_and_audited(client: TestClient, store: Store) -> None:
    token = _login(client, "ada")
    bad = client.post("/console/controls/thresholds", data={"account": "acme", "auto_threshold": "0.5",
                                                            "reason": "test", "csrf_token": token})
    assert bad.status_code == 400 and "draft_threshold" in bad.text  # 0.5 < draft_threshold 0.6
    assert store.get_account("acme").settings.get("auto_threshold") is None
    ok = client.post("/console/controls/thresholds", data={
        "account": "acme", "auto_threshold": "0.9", "draft_threshold": "0.6", "autonomy_min_sample": "10",
        "reason": "too many reopens", "csrf_token": token})
    assert ok.status_code == 303, ok.text
    assert store.get_account("acme").settings["auto_threshold"] == "0.9"
    assert "draft_threshold" not in store.get_account("acme").settings  # unchanged values are not written
    (row,) = audit.entries(store.engine, "default", action="setting.set")
    assert (row["target"], row["old"], row["new"], row["reason"]) == ("acme:auto_threshold", "0.85", "0.9",
                                                                      "too many reopens")
    again = client.post("/console/controls/thresholds", data={"account": "acme", "auto_threshold": "0.90",
                                                              "reason": "again", "csrf_token": token})
    assert again.status_code == 400 and "nothing changed" in again.text


def test_a_kill_switch_reset_keeps_its_reason_and_is_audited(client: TestClient, store: Store) -> None:
    switch_id = trip(store, "account", account="acme", reason="bad answers", actor="ops")
    other = trip(store, "account", account="globex", reason="theirs", actor="ops")
    token = _login(client, "ada")
    assert client.post(f"/console/switches/{other}/reset", data={"reason": "x", "csrf_token": token}
                       ).status_code == 404
    r = client.post(f"/console/switches/{switch_id}/reset", data={"reason": "KB article fixed", "csrf_token": token})
    assert r.status_code == 303
    row = next(s for s in list_switches(store, include_reset=True) if s["id"] == switch_id)
    assert (row["reset_by"], row["reset_reason"]) == ("console:ada", "KB article fixed")
    assert "reset by console:ada: KB article fixed" in client.get("/console/switches").text
    (entry,) = audit.entries(store.engine, "default", action="switch.reset")
    assert entry["reason"] == "KB article fixed" and entry["old"] == "tripped: bad answers"
    twice = client.post(f"/console/switches/{switch_id}/reset", data={"reason": "again", "csrf_token": token})
    assert twice.status_code == 409 and len(audit.entries(store.engine, "default", action="switch.reset")) == 1
    assert next(s for s in list_switches(store, include_reset=True) if s["id"] == other)["reset_at"] is None


def test_dead_letters_of_the_tenant_are_counted_retried_and_dropped_with_audit(client: TestClient, rt: Runtime,
                                                                               store: Store) -> None:
    mine, theirs = _dead_job(store, rt, "acme", "default"), _dead_job(store, rt, "globex", "elsewhere")
    _login(client, "vic")
    page = client.get("/console/jobs").text
    assert 'id="depth-dead">1<' in page and "helpdesk down" in page and f"Retry job {mine}" not in page
    health = client.get("/console/accounts").text
    assert '<a href="/console/jobs?state=dead">1 dead</a>' in health and "globex" not in health
    token = _login(client, "ada")
    page = client.get("/console/jobs").text
    assert f"Retry job {mine}" in page and f"job {theirs}" not in page
    assert client.post(f"/console/jobs/{theirs}/retry", data={"csrf_token": token}).status_code == 404
    no_reason = client.post(f"/console/jobs/{mine}/drop", data={"reason": " ", "csrf_token": token})
    assert no_reason.status_code == 400 and "needs a reason" in no_reason.text
    assert client.post(f"/console/jobs/{mine}/drop", data={"reason": "ticket deleted", "csrf_token": token}
                       ).status_code == 303
    r = client.post(f"/console/jobs/{mine}/retry", data={"reason": "", "csrf_token": token, "state": "dropped"})
    assert r.status_code == 303 and r.headers["location"] == "/console/jobs?state=dropped"
    with store.engine.connect() as conn:
        state = dict(conn.execute(select(jobs.c.id, jobs.c.status).where(jobs.c.id.in_([mine, theirs]))).all())
    assert state == {mine: "queued", theirs: "dead"}
    assert 'id="depth-queued">1<' in client.get("/console/jobs").text
    trail = [(e["action"], e["old"], e["new"], e["reason"]) for e in audit.entries(store.engine, "default")]
    assert trail == [("job.retry", "dropped", "queued", None), ("job.drop", "dead", "dropped", "ticket deleted")]
    _login(client, "eve")
    assert audit.entries(store.engine, "elsewhere") == [] and "ticket deleted" not in client.get("/console/audit").text
