"""The proxy: any call of the helpdesk's own API with the account's credentials, scoped by key, never
outside the provider's API root; throttling normalised, the helpdesk's own errors passed on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from deskhand.api.keys import create_key
from deskhand.api.problems import ApiProblem
from deskhand.api.proxy import checked_path
from deskhand.gateway.app import create_app
from deskhand.runtime import Runtime
from deskhand.store import Store
from deskhand.testing.receiver import WebhookReceiver
from tests.test_contract import CASES, SECRET, Case

# a read of one ticket in each helpdesk's own API, relative to its API root (one line per provider)
OWN_READ = {"zendesk": "tickets/{id}.json", "jira": "issue/{id}", "freshdesk": "tickets/{id}"}


@dataclass
class Proxied:
    case: Case
    client: TestClient
    auth: dict[str, str]
    other: dict[str, str]
    ticket: dict[str, Any]


@pytest.fixture(params=[c for c in CASES if c.name in OWN_READ], ids=str)
def proxied(request: pytest.FixtureRequest, store: Store) -> Iterator[Proxied]:
    case: Case = request.param
    receiver = WebhookReceiver()
    sim = case.start(receiver.url, SECRET)
    store.save_account("acme", case.name, case.config(sim.url), tenant_id="a")
    _, key = create_key(store.engine, "a", ["tickets:read", "tickets:write"])
    _, other = create_key(store.engine, "b", ["admin"])
    auth = {"Authorization": f"Bearer {key}"}
    rt = Runtime(store)
    with TestClient(create_app(rt)) as client:
        made = client.post("/v1/tickets", headers=auth, json={"account": "acme", "subject": "Proxy me",
                                                               "body": "Through the proxy"})
        assert made.status_code == 201, made.text
        yield Proxied(case, client, auth, {"Authorization": f"Bearer {other}"}, made.json())
    rt.close()
    sim.stop()
    receiver.close()


def test_a_read_of_the_helpdesks_own_api_comes_back_as_is(proxied: Proxied) -> None:
    path = OWN_READ[proxied.case.name].format(id=proxied.ticket["remote_id"])
    r = proxied.client.get(f"/v1/accounts/acme/proxy/{path}", headers=proxied.auth)
    assert r.status_code == 200, r.text
    assert "Proxy me" in r.text and r.headers["x-deskhand-provider"] == proxied.case.name


def test_the_helpdesks_own_not_found_is_passed_on(proxied: Proxied) -> None:
    path = OWN_READ[proxied.case.name].format(id="999999")
    r = proxied.client.get(f"/v1/accounts/acme/proxy/{path}", headers=proxied.auth)
    assert r.status_code == 404


def test_another_tenants_key_cannot_reach_the_account(proxied: Proxied) -> None:
    path = OWN_READ[proxied.case.name].format(id=proxied.ticket["remote_id"])
    for method in ("GET", "POST", "DELETE"):
        r = proxied.client.request(method, f"/v1/accounts/acme/proxy/{path}", headers=proxied.other)
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json", (method, r.text)


@pytest.mark.parametrize("path", ["../secret", "a/../../b", "./x", "http://evil.test/x", "//evil.test/x",
                                  "x\\..\\y", "user@evil.test/x", "https:/evil", "a//b", ""],
                         ids=["dotdot", "nested-dotdot", "dot", "absolute", "scheme-relative", "backslash",
                              "userinfo", "scheme", "double-slash", "empty"])
def test_paths_outside_the_api_root_are_refused(path: str) -> None:
    with pytest.raises(ApiProblem) as err:
        checked_path(path)
    assert err.value.status == 400 and err.value.code == "path_outside_api"


@pytest.mark.parametrize("path", ["..%2Fsecret", "%2e%2e/secret", "a/%2E%2E/%2E%2E/b", "http:%2F%2Fevil.test"],
                         ids=["encoded-slash", "encoded-dots", "encoded-nested", "encoded-scheme"])
def test_encoded_escapes_are_refused_over_http_and_nothing_is_sent(proxied: Proxied, path: str) -> None:
    r = proxied.client.get(f"/v1/accounts/acme/proxy/{path}", headers=proxied.auth)
    assert r.status_code in (400, 404) and r.headers["content-type"] == "application/problem+json", r.text


def test_a_read_key_cannot_write_through_the_proxy(proxied: Proxied, store: Store) -> None:
    _, reader = create_key(store.engine, "a", ["tickets:read"])
    r = proxied.client.post("/v1/accounts/acme/proxy/tickets.json", headers={"Authorization": f"Bearer {reader}"},
                            json={})
    assert r.status_code == 403
