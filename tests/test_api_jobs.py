"""/v1/jobs: an admin key lists its tenant's jobs and retries or drops its dead letters, never another's."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from deskhand.api.keys import create_key
from deskhand.gateway.app import create_app
from deskhand.model import Event, EventKind
from deskhand.runtime import Runtime
from deskhand.store import Store
from deskhand.store.schema import jobs

pytestmark = pytest.mark.every_backend


def _dead_job(store: Store, rt: Runtime, account: str, tenant: str) -> int:
    store.save_account(account, "zendesk", {"subdomain": account, "email": "a@x.test", "api_token": "t",
                                            "webhook_secret": "s", "base_url": "http://127.0.0.1:9"},
                       tenant_id=tenant)
    ev = Event(provider="zendesk", account=account, kind=EventKind.TICKET_CREATED, ticket_id="1",
               delivery_id=f"d-{account}")
    with store.transaction() as conn:
        event_id = store.record_event(conn, tenant, ev)
        assert event_id is not None
        job_id = rt.queue.enqueue(conn, "handle_event", {"event_id": event_id}, dedupe_key=f"event:{event_id}")
    assert job_id is not None
    with store.engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(status="dead", last_error="helpdesk down"))
    return int(job_id)


@pytest.fixture
def setup(store: Store) -> tuple[TestClient, dict[str, int], dict[str, str]]:
    rt = Runtime(store)
    ids = {"a": _dead_job(store, rt, "acme", "tenant-a"), "b": _dead_job(store, rt, "globex", "tenant-b")}
    keys = {"a": create_key(store.engine, "tenant-a", ["admin"])[1],
            "a_reader": create_key(store.engine, "tenant-a", ["tickets:read"])[1]}
    return TestClient(create_app(rt)), ids, keys


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_an_admin_key_sees_only_its_tenants_dead_letters(setup) -> None:
    client, ids, keys = setup
    listed = client.get("/v1/jobs", params={"state": "dead"}, headers=_auth(keys["a"]))
    assert listed.status_code == 200, listed.text
    assert [j["id"] for j in listed.json()["data"]] == [ids["a"]]
    assert listed.json()["data"][0]["last_error"] == "helpdesk down"
    assert client.get("/v1/jobs", headers=_auth(keys["a_reader"])).status_code == 403


def test_a_dead_letter_is_retried_and_another_tenants_job_is_not_found(setup, store: Store) -> None:
    client, ids, keys = setup
    retried = client.post(f"/v1/jobs/{ids['a']}/retry", headers=_auth(keys["a"]))
    assert retried.status_code == 200, retried.text
    assert retried.json()["state"] == "queued" and retried.json()["attempts"] == 0
    other = client.post(f"/v1/jobs/{ids['b']}/retry", headers=_auth(keys["a"]))
    assert other.status_code == 404 and other.headers["content-type"].startswith("application/problem+json")
    assert client.post(f"/v1/jobs/{ids['b']}/drop", headers=_auth(keys["a"])).status_code == 404
    dropped = client.post(f"/v1/jobs/{ids['a']}/drop", headers=_auth(keys["a"]))
    assert dropped.status_code == 200 and dropped.json()["state"] == "dropped"
    assert client.get("/v1/jobs", params={"state": "nosuch"}, headers=_auth(keys["a"])).status_code == 422
