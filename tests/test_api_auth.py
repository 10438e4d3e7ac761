"""API keys and scopes: no route answers without a key, a key sees only its tenant, decisions are scoped
and bounded, /metrics and the OpenAPI description need keys too."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from deskhand.api.keys import authenticate, create_key, list_keys, revoke_key
from deskhand.cli import app as cli_app
from deskhand.errors import ConfigError, NotFoundError
from deskhand.gateway.app import create_app
from deskhand.model import Decision, Event, EventKind, Route
from deskhand.runtime import Runtime
from deskhand.store import Store
from deskhand.store.tables_api import api_keys

pytestmark = pytest.mark.every_backend
OPEN_PATHS = {"/healthz", "/webhooks/{provider}/{account}", "/oauth/callback/{provider}"}
ALL = ["tickets:read", "tickets:write", "decisions:read", "review:write"]


def _account(store: Store, name: str, tenant: str) -> None:
    store.save_account(name, "zendesk", {"subdomain": name, "email": "a@x.test", "api_token": "t",
                                         "webhook_secret": "s", "base_url": "http://127.0.0.1:9"}, tenant_id=tenant)


def _decision(store: Store, account: str, tenant: str, ticket: str) -> int:
    ev = Event(provider="zendesk", account=account, kind=EventKind.TICKET_CREATED, ticket_id=ticket,
               delivery_id=f"d-{account}-{ticket}")
    with store.transaction() as conn:
        event_id = store.record_event(conn, tenant, ev)
        assert event_id is not None
        return store.save_decision(conn, tenant_id=tenant, account=account, event_id=event_id, ticket_id=ticket,
                                   decision=Decision(route=Route.DRAFT, triage=None, confidence=0.5, reply="hi"),
                                   evidence={"sources": []}, actions=[])


@pytest.fixture
def two_tenants(store: Store) -> dict[str, object]:
    _account(store, "acme", "tenant-a")
    _account(store, "globex", "tenant-b")
    ids = {"a": [_decision(store, "acme", "tenant-a", str(i)) for i in range(3)],
           "b": [_decision(store, "globex", "tenant-b", "7")]}
    keys = {"a": create_key(store.engine, "tenant-a", [*ALL, "admin"])[1],
            "b": create_key(store.engine, "tenant-b", ALL)[1],
            "a_tickets_only": create_key(store.engine, "tenant-a", ["tickets:read"])[1]}
    return {"ids": ids, "keys": keys}


@pytest.fixture
def client(store: Store) -> TestClient:
    return TestClient(create_app(Runtime(store)))


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_only_a_hash_of_the_key_is_stored_and_it_authenticates(store: Store) -> None:
    key_id, key = create_key(store.engine, "t1", ["tickets:read"], "ci")
    assert re.fullmatch(r"dh_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", key)
    with store.engine.connect() as c:
        row = c.execute(select(api_keys)).one()
    assert key not in json.dumps(dict(row._mapping), default=str)
    who = authenticate(store.engine, key)
    assert who is not None and (who.key_id, who.tenant_id, who.scopes) == (key_id, "t1", {"tickets:read"})
    (listed,) = list_keys(store.engine)
    assert "secret_hash" not in listed and listed["name"] == "ci"


@pytest.mark.parametrize("mangle", [
    lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"),
    lambda k: k.replace("dh_", "xx_"),
    lambda k: "dh_" + "0" * 12 + k[15:],
    lambda k: "",
    lambda k: k + "x" * 300,
], ids=["wrong-secret", "wrong-prefix", "unknown-id", "empty", "oversized"])
def test_a_wrong_key_does_not_authenticate(store: Store, mangle) -> None:
    _, key = create_key(store.engine, "t1", ["tickets:read"])
    assert authenticate(store.engine, mangle(key)) is None


def test_a_revoked_key_stops_working(store: Store) -> None:
    key_id, key = create_key(store.engine, "t1", ["tickets:read"])
    revoke_key(store.engine, key_id)
    assert authenticate(store.engine, key) is None
    with pytest.raises(NotFoundError, match="deskhand keys list"):
        revoke_key(store.engine, key_id)


def test_unknown_scopes_are_refused_naming_the_valid_ones(store: Store) -> None:
    with pytest.raises(ConfigError, match="tickets:read"):
        create_key(store.engine, "t1", ["tickets:delete"])


def _fill(path: str) -> str:
    return re.sub(r"\{([^}:]+)(?::path)?\}", lambda m: "1", path)


def every_route(routes: list) -> list[APIRoute]:
    """The app's routes, those of included routers too (FastAPI >= 0.16x keeps them nested)."""
    found: list[APIRoute] = []
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            found += every_route(nested.routes)
        elif isinstance(route, APIRoute):
            found.append(route)
    return found


def test_no_route_answers_without_a_valid_key(client: TestClient, store: Store) -> None:
    key_id, revoked = create_key(store.engine, "tenant-a", ["admin"])
    revoke_key(store.engine, key_id)
    checked = 0
    for route in every_route(client.app.routes):  # type: ignore[attr-defined]
        path = route.path
        if path in OPEN_PATHS or path.startswith("/console"):  # the console's session login: its own tests
            continue
        for method in route.methods:
            for headers in ({}, _auth(revoked), {"Authorization": "Basic YTpi"}):
                r = client.request(method, _fill(path), headers=headers)
                assert r.status_code == 401, (method, path, r.status_code, r.text)
                assert r.headers["content-type"] == "application/problem+json"
                assert r.headers["www-authenticate"].startswith("Bearer")
            checked += 1
    assert checked >= 4  # /metrics, /openapi.json, /docs, the /v1 routes
    for path in ("/metrics", "/openapi.json", "/docs", "/v1/decisions"):
        assert client.get(path).status_code == 401, path


def test_a_key_lacking_the_scope_is_403(client: TestClient, two_tenants) -> None:
    r = client.get("/v1/decisions", headers=_auth(two_tenants["keys"]["a_tickets_only"]))
    assert r.status_code == 403 and r.json()["required_scope"] == "decisions:read"


def test_a_key_lists_only_its_tenants_decisions(client: TestClient, two_tenants) -> None:
    ids = two_tenants["ids"]
    r = client.get("/v1/decisions", headers=_auth(two_tenants["keys"]["a"]))
    assert r.status_code == 200, r.text
    assert [d["id"] for d in r.json()["data"]] == sorted(ids["a"], reverse=True)
    assert {d["account"] for d in r.json()["data"]} == {"acme"}
    r = client.get("/v1/decisions", params={"account": "acme"}, headers=_auth(two_tenants["keys"]["b"]))
    assert r.json()["data"] == []


def test_another_tenants_decision_is_404_like_a_missing_one(client: TestClient, two_tenants) -> None:
    (theirs,) = two_tenants["ids"]["b"]
    key = two_tenants["keys"]["a"]
    other = client.get(f"/v1/decisions/{theirs}", headers=_auth(key))
    missing = client.get("/v1/decisions/999999", headers=_auth(key))
    assert other.status_code == missing.status_code == 404
    assert other.json()["code"] == missing.json()["code"] == "not_found"
    own = client.get(f"/v1/decisions/{two_tenants['ids']['a'][0]}", headers=_auth(key))
    assert own.status_code == 200 and own.json()["actions"] == [] and own.json()["reply"] == "hi"


@pytest.mark.parametrize("params", [{"limit": "-1"}, {"limit": "0"}, {"limit": "100000"}, {"cursor": "abc"}],
                         ids=["negative", "zero", "huge", "bad-cursor"])
def test_decision_pages_are_bounded(client: TestClient, two_tenants, params) -> None:
    r = client.get("/v1/decisions", params=params, headers=_auth(two_tenants["keys"]["a"]))
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text


def test_decision_pages_follow_the_cursor_to_the_end(client: TestClient, two_tenants) -> None:
    seen, cursor = [], None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/decisions", params=params, headers=_auth(two_tenants["keys"]["a"])).json()
        seen += [d["id"] for d in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(two_tenants["ids"]["a"], reverse=True)


def test_metrics_need_an_admin_key_and_show_only_its_tenant(client: TestClient, two_tenants) -> None:
    assert client.get("/metrics", headers=_auth(two_tenants["keys"]["b"])).status_code == 403
    r = client.get("/metrics", headers=_auth(two_tenants["keys"]["a"]))
    assert r.status_code == 200 and 'account="globex"' not in r.text


def test_openapi_and_docs_are_served_to_a_key_without_any_cdn(client: TestClient, two_tenants) -> None:
    spec = client.get("/openapi.json", headers=_auth(two_tenants["keys"]["b"])).json()
    assert spec["openapi"].startswith("3.1") and "/v1/decisions" in spec["paths"]
    page = client.get("/docs", headers=_auth(two_tenants["keys"]["b"])).text
    assert "/v1/decisions" in page and "<script" not in page and "http" not in page.split("<h1>", 1)[0]


def test_cli_creates_lists_and_revokes_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            database_url: str) -> None:
    monkeypatch.setenv("DESKHAND_DATABASE_URL", database_url)
    monkeypatch.setenv("DESKHAND_SECRET_KEY", Fernet.generate_key().decode())
    runner = CliRunner()
    made = runner.invoke(cli_app, ["keys", "create", "--tenant", "t9", "--scope", "tickets:read",
                                   "--scope", "decisions:read", "--name", "console", "--json"])
    assert made.exit_code == 0, made.output
    key = json.loads(made.stdout)["key"]
    listed = runner.invoke(cli_app, ["keys", "list", "--json"])
    assert key not in listed.stdout and json.loads(listed.stdout)["keys"][0]["name"] == "console"
    bad = runner.invoke(cli_app, ["keys", "create", "--tenant", "t9", "--scope", "everything"])
    assert bad.exit_code == 2 and "tickets:write" in bad.output
    revoked = runner.invoke(cli_app, ["keys", "revoke", json.loads(made.stdout)["id"]])
    assert revoked.exit_code == 0, revoked.output
