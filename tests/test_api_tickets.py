"""The unified ticket API against every provider's simulator over loopback: one test body lists,
reads, comments on and changes the status of a ticket, and checks the result in the simulator.
A new provider joins by its one `Case` line in tests/test_contract.py (CASES)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from deskhand.api.keys import create_key
from deskhand.gateway.app import create_app
from deskhand.model import Status, Visibility
from deskhand.providers import open_connector
from deskhand.runtime import Runtime
from deskhand.store import Store
from deskhand.testing.receiver import WebhookReceiver
from tests.test_contract import CASES, SECRET, Case, raw_statuses


@dataclass
class Api:
    case: Case
    sim: Any
    client: TestClient
    auth: dict[str, str]
    other: dict[str, str]  # a key of another tenant
    account: str

    def direct(self) -> Any:
        """A connector straight to the simulator (not through the API): what the helpdesk holds."""
        return open_connector(self.case.name, "check", self.case.config(self.sim.url),
                              overrides=self.case.overrides(self.sim))


@pytest.fixture(params=CASES, ids=str)
def api(request: pytest.FixtureRequest, store: Store) -> Iterator[Api]:
    case: Case = request.param
    receiver = WebhookReceiver()
    sim = case.start(receiver.url, SECRET)
    account = f"acme-{case.name}"
    store.save_account(account, case.name, case.config(sim.url), tenant_id="tenant-a", overrides=case.overrides(sim))
    store.save_account("intruder", case.name, case.config(sim.url), tenant_id="tenant-b",
                       overrides=case.overrides(sim))
    _, key = create_key(store.engine, "tenant-a", ["tickets:read", "tickets:write"])
    _, other = create_key(store.engine, "tenant-b", ["tickets:read", "tickets:write", "admin"])
    rt = Runtime(store)
    with TestClient(create_app(rt)) as client:
        yield Api(case, sim, client, {"Authorization": f"Bearer {key}"}, {"Authorization": f"Bearer {other}"},
                  account)
    rt.close()
    sim.stop()
    receiver.close()


def test_list_read_comment_and_change_status_through_the_api(api: Api) -> None:
    c, auth = api.client, api.auth
    made = c.post("/v1/tickets", headers=auth, json={
        "account": api.account, "subject": "Printer on fire", "body": "It is on fire, please help",
        "requester_name": "Ann Customer", "requester_email": "ann@example.test"})
    assert made.status_code == 201, made.text
    ticket = made.json()
    assert (ticket["account"], ticket["provider"]) == (api.account, api.case.name)
    assert ticket["id"] == f"{api.account}:{ticket['remote_id']}" and ticket["status"] in ("new", "open")

    listed = c.get("/v1/tickets", params={"account": api.account}, headers=auth).json()["data"]
    assert ticket["id"] in [t["id"] for t in listed]
    live = c.get("/v1/tickets", params={"account": api.account, "fresh": "true"}, headers=auth).json()["data"]
    assert ticket["id"] in [t["id"] for t in live]

    read = c.get(f"/v1/tickets/{ticket['id']}", headers=auth).json()
    assert read["subject"] == "Printer on fire" and read["remote_data"] is None
    raw = c.get(f"/v1/tickets/{ticket['id']}", params={"remote_data": "true"}, headers=auth).json()
    assert raw["remote_data"], "remote_data=true returns the helpdesk's own record"

    kinds = ("public", "internal") if api.case.notes else ("public",)  # (no internal comments: Trello, Linear)
    for visibility in kinds:
        r = c.post(f"/v1/tickets/{ticket['id']}/comments", headers=auth,
                   json={"body": f"A {visibility} word", "visibility": visibility})
        assert r.status_code == 201, r.text
        assert r.json()["visibility"] == visibility and r.json()["ticket_id"] == ticket["id"]
    if not api.case.notes:  # a helpdesk without internal comments refuses one, and writes nothing
        r = c.post(f"/v1/tickets/{ticket['id']}/comments", headers=auth, json={"body": "x", "visibility": "internal"})
        assert r.status_code == 422 and r.json()["code"] == "unsupported"
    comments = c.get(f"/v1/tickets/{ticket['id']}/comments", headers=auth).json()["data"]
    assert {(x["body"], x["visibility"]) for x in comments} >= {(f"A {v} word", v) for v in kinds}

    changed = c.patch(f"/v1/tickets/{ticket['id']}", headers=auth, json={"status": "solved"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] == "solved"

    with api.direct() as direct:  # what the simulator itself now holds
        held = direct.get_ticket(ticket["remote_id"])
        assert held.status is Status.SOLVED and held.raw_status == raw_statuses(api)[Status.SOLVED]
        said = {(x.body.strip(), x.visibility) for x in held.comments}
        assert ("A public word", Visibility.PUBLIC) in said
        assert ("A internal word", Visibility.INTERNAL) in said or not api.case.notes
    solved = c.get("/v1/tickets", params={"account": api.account, "status": "solved"}, headers=auth).json()["data"]
    assert [t["id"] for t in solved] == [ticket["id"]]


def test_a_retried_write_with_an_idempotency_key_is_performed_once(api: Api) -> None:
    body = {"account": api.account, "subject": "Once only", "body": "Create me once"}
    key = {**api.auth, "Idempotency-Key": "create-once-1"}
    before = len(api.case.ticket_ids(api.sim))
    first = api.client.post("/v1/tickets", headers=key, json=body)
    again = api.client.post("/v1/tickets", headers=key, json=body)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"] and again.headers["idempotent-replayed"] == "true"
    assert len(api.case.ticket_ids(api.sim)) == before + 1
    other = api.client.post("/v1/tickets", headers=key, json={**body, "subject": "Something else"})
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    comment = {**api.auth, "Idempotency-Key": "comment-once-1"}
    url = f"/v1/tickets/{first.json()['id']}/comments"
    once = {"body": "Just once", "visibility": "internal" if api.case.notes else "public"}
    ids = {api.client.post(url, headers=comment, json=once).json()["id"] for _ in range(3)}
    assert len(ids) == 1
    with api.direct() as direct:
        assert [x.body.strip() for x in direct.list_comments(first.json()["remote_id"])].count("Just once") == 1


def test_another_tenants_key_gets_404_for_every_ticket_route(api: Api) -> None:
    t = api.client.post("/v1/tickets", headers=api.auth, json={
        "account": api.account, "subject": "Mine", "body": "Tenant A's ticket"}).json()
    c, other = api.client, api.other
    calls = [
        c.get(f"/v1/tickets/{t['id']}", headers=other),
        c.get(f"/v1/tickets/{t['id']}", params={"fresh": "true"}, headers=other),
        c.get(f"/v1/tickets/{t['id']}/comments", headers=other),
        c.patch(f"/v1/tickets/{t['id']}", headers=other, json={"status": "solved"}),
        c.post(f"/v1/tickets/{t['id']}/comments", headers=other, json={"body": "x", "visibility": "public"}),
        c.get("/v1/tickets", params={"account": api.account}, headers=other),
        c.post("/v1/tickets", headers=other, json={"account": api.account, "subject": "x", "body": "y"}),
        c.get("/v1/users", params={"account": api.account}, headers=other),
        c.get("/v1/contacts", params={"account": api.account}, headers=other),
        c.get("/v1/teams", params={"account": api.account}, headers=other),
        c.get("/v1/tags", params={"account": api.account}, headers=other),
    ]
    assert [r.status_code for r in calls] == [404] * len(calls), [r.text for r in calls]
    assert all(r.headers["content-type"] == "application/problem+json" for r in calls)
    mine = c.get("/v1/tickets", headers=other).json()["data"]
    assert t["id"] not in [x["id"] for x in mine]


def test_directory_reads_live_users_and_teams(api: Api) -> None:
    users = api.client.get("/v1/users", params={"account": api.account, "fresh": "true"}, headers=api.auth)
    assert users.status_code == 200, users.text
    assert all(u["account"] == api.account and u["role"] in ("agent", "admin") for u in users.json()["data"])
    teams = api.client.get("/v1/teams", params={"account": api.account, "fresh": "true"}, headers=api.auth)
    assert teams.status_code == 200, teams.text


@pytest.mark.parametrize("body", [{"status": "bogus"}, {}, {"add_tags": [""]}],
                         ids=["bad-status", "empty", "empty-tag"])
def test_invalid_updates_are_problem_documents(api: Api, body: dict[str, Any]) -> None:
    t = api.client.post("/v1/tickets", headers=api.auth, json={
        "account": api.account, "subject": "S", "body": "B"}).json()
    r = api.client.patch(f"/v1/tickets/{t['id']}", headers=api.auth, json=body)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 422 and r.json()["type"].startswith("urn:deskhand:problem:")


@pytest.mark.parametrize("case", CASES, ids=str)
def test_provider_throttling_is_a_429_problem_with_retry_after(case: Case, store: Store) -> None:
    from deskhand.sim.base import ManualClock

    sim = case.start_limited(ManualClock())
    try:
        store.save_account("acme", case.name, case.config(sim.url), tenant_id="t")
        _, key = create_key(store.engine, "t", ["tickets:read"])
        with TestClient(create_app(Runtime(store))) as client:
            answers = [client.get("/v1/tickets", params={"account": "acme", "fresh": "true"},
                                  headers={"Authorization": f"Bearer {key}"}) for _ in range(4)]
        throttled = [r for r in answers if r.status_code == 429]
        assert throttled, [r.status_code for r in answers]
        r = throttled[0]
        assert r.headers["content-type"] == "application/problem+json" and r.json()["code"] == "provider_throttled"
        assert int(r.headers["retry-after"]) >= 1 and r.headers["ratelimit-remaining"] == "0"
        assert "ratelimit-reset" in r.headers
    finally:
        sim.stop()


def test_q_searches_the_helpdesk_live_and_the_replica_otherwise(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """`GET /v1/tickets?q=` with fresh=true asks the helpdesk's own search where the definition has one
    (Linear: searchIssues, counted here in the simulator), else matches the listing's words; without
    fresh it matches the replica's subject and description. Every word must match."""
    from deskhand.sim import linear_resolve

    searched: list[str] = []
    real = linear_resolve.search_issues

    def spy(ctx: Any, src: Any, term: str, **args: Any) -> Any:
        searched.append(term)
        return real(ctx, src, term, **args)

    monkeypatch.setitem(linear_resolve.RESOLVERS, ("Query", "searchIssues"), spy)
    c, auth = api.client, api.auth
    made = c.post("/v1/tickets", headers=auth, json={
        "account": api.account, "subject": "Quokka invoice missing", "body": "The zebrafish report is empty",
        "requester_name": "Ann Customer", "requester_email": "ann@example.test"}).json()
    for fresh in ("true", "false"):
        def ids(q: str, fresh: str = fresh) -> list[str]:
            answer = c.get("/v1/tickets", params={"account": api.account, "q": q, "fresh": fresh}, headers=auth)
            assert answer.status_code == 200, answer.text
            return [t["id"] for t in answer.json()["data"]]

        assert made["id"] in ids("quokka"), fresh
        assert made["id"] in ids("INVOICE Quokka"), fresh  # case-insensitive, any order
        assert made["id"] not in ids("quokka walrus"), fresh  # every word must match
    assert c.get("/v1/tickets", params={"q": " "}, headers=auth).status_code == 422
    has_search = api.direct().definition.resources["ticket"].search is not None
    assert (searched == ["quokka", "INVOICE Quokka", "quokka walrus"]) == (api.case.name == "linear") == has_search
    if has_search:  # Linear's search reads the description too (a listing without it cannot)
        found = c.get("/v1/tickets", params={"account": api.account, "q": "zebrafish", "fresh": "true"}, headers=auth)
        assert [t["id"] for t in found.json()["data"]] == [made["id"]]
