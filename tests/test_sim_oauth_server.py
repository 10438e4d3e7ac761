"""The simulators' generic OAuth 2.0 authorisation server (deskhand.sim.oauth_server): code grant with
PKCE, refresh with rotation (a replayed dead refresh token revokes the grant), lifetimes, revocation."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from deskhand.sim.base import ManualClock
from deskhand.sim.oauth_server import AuthServer

CLIENT = {"client_id": "cid", "client_secret": "csecret"}
VERIFIER = "v" * 50
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
REDIRECT = "http://127.0.0.1:9/oauth/callback/x"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def server(clock: ManualClock) -> AuthServer:
    return AuthServer({"cid": "csecret"}, clock=clock, access_ttl_s=300)


@pytest.fixture
def http(server: AuthServer) -> TestClient:
    return TestClient(Starlette(routes=server.routes("/authorize", "/token", "/revoke")))


def _code(http: TestClient, path: str = "/authorize", **extra: str) -> str:
    params = {"response_type": "code", "client_id": "cid", "redirect_uri": REDIRECT, "state": "s1",
              "code_challenge": CHALLENGE, "code_challenge_method": "S256", **extra}
    answer = http.get(path, params=params, follow_redirects=False)
    assert answer.status_code == 302 and "state=s1" in answer.headers["location"]
    return answer.headers["location"].split("code=")[1].split("&")[0]


def _exchange(http: TestClient, code: str, path: str = "/token", **extra: str) -> Any:
    return http.post(path, data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                     "code_verifier": VERIFIER, **CLIENT, **extra})


def _refresh(http: TestClient, token: str, path: str = "/token") -> Any:
    return http.post(path, data={"grant_type": "refresh_token", "refresh_token": token, **CLIENT})


@pytest.mark.parametrize(("change", "error", "status"), [
    ({"code_verifier": "wrong" * 10}, "invalid_grant", 400),
    ({"redirect_uri": "http://elsewhere/cb"}, "invalid_grant", 400),
    ({"client_secret": "nope"}, "invalid_client", 401),
], ids=["pkce-mismatch", "other-redirect", "bad-client-secret"])
def test_a_code_exchange_with_wrong_details_is_refused(http: TestClient, change: dict[str, str], error: str,
                                                       status: int) -> None:
    answer = _exchange(http, _code(http), **change)
    assert (answer.status_code, answer.json()["error"]) == (status, error)


def test_a_code_works_once_and_gives_an_expiring_access_token(http: TestClient, server: AuthServer,
                                                              clock: ManualClock) -> None:
    code = _code(http)
    token = _exchange(http, code).json()
    assert token["expires_in"] == 300 and token["refresh_token"] and server.access_ok(token["access_token"])
    assert _exchange(http, code).json()["error"] == "invalid_grant"
    clock.advance(300)
    assert not server.access_ok(token["access_token"])


def test_refresh_rotates_and_a_replayed_dead_token_revokes_the_grant(http: TestClient, server: AuthServer) -> None:
    first = _exchange(http, _code(http)).json()
    second = _refresh(http, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert not server.access_ok(first["access_token"]) and server.access_ok(second["access_token"])
    replay = _refresh(http, first["refresh_token"])
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
    assert not server.access_ok(second["access_token"])  # the whole grant is gone
    assert _refresh(http, second["refresh_token"]).json()["error"] == "invalid_grant"
    assert server.refresh_log == [first["refresh_token"], first["refresh_token"], second["refresh_token"]]


def test_revoking_a_token_kills_its_grant(http: TestClient, server: AuthServer) -> None:
    token = _exchange(http, _code(http)).json()
    assert http.post("/revoke", data={"token": token["access_token"], **CLIENT}).status_code == 200
    assert not server.access_ok(token["access_token"])
    assert _refresh(http, token["refresh_token"]).json()["error"] == "invalid_grant"


def test_a_non_rotating_server_keeps_the_refresh_token(clock: ManualClock) -> None:
    server = AuthServer({"cid": "csecret"}, clock=clock, rotate=False)
    http = TestClient(Starlette(routes=server.routes("/authorize", "/token", "/revoke")))
    first = _exchange(http, _code(http)).json()
    assert _refresh(http, first["refresh_token"]).json()["refresh_token"] == first["refresh_token"]


def test_a_refresh_token_past_its_lifetime_is_refused(clock: ManualClock) -> None:
    server = AuthServer({"cid": "csecret"}, clock=clock, access_ttl_s=300, refresh_ttl_s=3600)
    http = TestClient(Starlette(routes=server.routes("/authorize", "/token", "/revoke")))
    first = _exchange(http, _code(http)).json()
    assert first["refresh_token_expires_in"] == 3600
    clock.advance(3600)
    assert _refresh(http, first["refresh_token"]).json() == {"error": "invalid_grant",
                                                             "error_description": "the refresh token expired"}


def test_the_zendesk_simulator_serves_oauth_for_an_oauth_client_option() -> None:
    from deskhand.sim import registry

    built = registry.get("zendesk").build(registry.SimConfig(extras={"oauth_client": "cid:csecret"}))
    http = TestClient(built.app)
    token = _exchange(http, _code(http, "/oauth/authorizations/new", scope="read"), "/oauth/tokens").json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    me = http.get("/api/v2/users/me.json", headers=bearer)
    assert me.status_code == 200 and me.json()["user"]["id"]
    assert http.get("/api/v2/users/me.json", headers={"Authorization": "Bearer expired-or-made-up"}).status_code == 401
    # scopes on the API side: `read` opens reads only; a write answers Zendesk's 403
    write = http.put("/api/v2/tickets/1.json", headers=bearer, json={"ticket": {"status": "open"}})
    assert write.status_code == 403 and write.json()["error"] == "Forbidden"


def test_the_jira_simulator_plays_atlassian_3lo_with_sites_and_scopes() -> None:
    from deskhand.sim import registry
    from deskhand.sim.jira_oauth import DEFAULT_CLOUD_ID

    built = registry.get("jira").build(registry.SimConfig(extras={"oauth_client": "cid:csecret"}))
    http = TestClient(built.app)
    refused = http.get("/authorize", params={"response_type": "code", "client_id": "cid", "redirect_uri": REDIRECT})
    assert refused.status_code == 403 and refused.json()["error"] == "invalid_request"  # no audience
    code = _code(http, scope="read:jira-work read:jira-user offline_access", audience="api.atlassian.com")
    token = _exchange(http, code, "/oauth/token").json()
    assert token["scope"] == "read:jira-work read:jira-user offline_access" and token["expires_in"] == 3600
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    (site,) = http.get("/oauth/token/accessible-resources", headers=bearer).json()
    assert site["id"] == DEFAULT_CLOUD_ID and site["url"] == "https://acme.atlassian.net"
    assert "read:jira-work" in site["scopes"]
    gateway = f"/ex/jira/{DEFAULT_CLOUD_ID}/rest/api/3"
    me = http.get(f"{gateway}/myself", headers=bearer)
    assert me.status_code == 200 and me.json()["emailAddress"]
    issue = http.post(f"{gateway}/issue", headers=bearer, json={"fields": {"summary": "x"}})
    assert (issue.status_code, issue.json()) == (401, {"code": 401, "message": "Unauthorized; scope does not match"})
    assert http.get(f"{gateway}/myself", headers={"Authorization": "Bearer made-up"}).json() == {
        "code": 401, "message": "Unauthorized"}
    assert http.get("/ex/jira/not-a-site/rest/api/3/myself", headers=bearer).status_code == 404
    assert http.get("/rest/api/3/myself", headers=bearer).status_code == 401  # 3LO tokens: the gateway only
    # the refresh token rotates; replaying the dead one revokes the grant (403 invalid_grant)
    second = _refresh(http, token["refresh_token"], "/oauth/token").json()
    assert second["refresh_token"] != token["refresh_token"]
    again = _refresh(http, token["refresh_token"], "/oauth/token")
    assert again.status_code == 403 and again.json()["error"] == "invalid_grant"
    revoked = http.get(f"{gateway}/myself", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert revoked.status_code == 401


def test_atlassian_refresh_tokens_expire_after_90_idle_days_and_a_year_after_consent(clock: ManualClock) -> None:
    from deskhand.sim.jira_oauth import AtlassianAuth

    auth = AtlassianAuth({"cid": "csecret"}, clock=clock)
    http = TestClient(Starlette(routes=auth.routes()))
    token = _exchange(http, _code(http, audience="api.atlassian.com"), "/oauth/token").json()
    for _ in range(4):  # refreshed every 89 days: never idle for 90
        clock.advance(89 * 86400)
        answer = _refresh(http, token["refresh_token"], "/oauth/token")
        assert answer.status_code == 200, answer.text
        token = answer.json()
    clock.advance(10 * 86400)  # 366 days after the consent
    late = _refresh(http, token["refresh_token"], "/oauth/token")
    assert late.status_code == 403 and late.json()["error"] == "invalid_grant"
    idle = _exchange(http, _code(http, audience="api.atlassian.com"), "/oauth/token").json()
    clock.advance(90 * 86400)
    assert _refresh(http, idle["refresh_token"], "/oauth/token").json()["error"] == "invalid_grant"
