"""Which scope each call needs (the definitions' `features`), and a call the helpdesk refuses for a
scope the grant lacks: ScopeMissing naming the scope, no refresh spent, the account paused."""

from __future__ import annotations

import time

import httpx
import pytest

from deskhand.providers import load_definition
from deskhand.providers.oauth import ScopeMissing, ScopeNeeds, oauth_spec
from deskhand.settings import Settings
from deskhand.sim import zendesk_oauth
from deskhand.sim.base import ManualClock
from deskhand.store import Store
from deskhand.testing.loop import sim_loop

API = "/ex/jira/c1/rest/api/3"


@pytest.mark.parametrize(("method", "path", "scope"), [
    ("GET", f"{API}/myself", "read:jira-user"),
    ("GET", f"{API}/users/search", "read:jira-user"),
    ("GET", f"{API}/issue/SUP-1", "read:jira-work"),
    ("GET", f"{API}/issue/SUP-1/transitions", "read:jira-work"),
    ("POST", f"{API}/search/jql", "read:jira-work"),
    ("POST", f"{API}/issue/SUP-1/comment", "write:jira-work"),
    ("POST", f"{API}/issue/SUP-1/transitions", "write:jira-work"),
    ("PUT", f"{API}/issue/SUP-1/assignee", "write:jira-work"),
    ("POST", f"{API}/issue", "write:jira-work"),
], ids=lambda v: str(v))
def test_each_jira_call_needs_the_scope_its_feature_lists(method: str, path: str, scope: str) -> None:
    needs = ScopeNeeds(oauth_spec(load_definition("jira")), API)
    found = needs.of(method, path)
    assert found is not None and found[1] == [scope]


def test_definitions_ask_for_the_scopes_their_features_need_and_no_more() -> None:
    for slug in ("jira", "zendesk"):
        spec = oauth_spec(load_definition(slug))
        assert set(spec.scopes) == {s for f in spec.features.values() for s in f.scopes}
    assert "read:servicedesk-request" not in oauth_spec(load_definition("jira")).scopes  # never called


def test_a_zendesk_write_outside_a_read_only_grant_names_the_write_scope(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deskhand.providers.oauth_connect import finish, start

    monkeypatch.setenv("DESKHAND_OAUTH_ZENDESK_CLIENT_ID", "cid")
    monkeypatch.setenv("DESKHAND_OAUTH_ZENDESK_CLIENT_SECRET", "csecret")
    # the OAuth client may only read: the grant (and the token answer's `scope`) holds `read` alone
    server = zendesk_oauth.auth_server({"cid": "csecret"}, clock=ManualClock(time.time()),
                                       allowed_scopes={"cid": {"read"}})
    with sim_loop("zendesk", store, settings, mode="auto", sim_extras={"oauth": server}) as loop:
        kept = {k: store.get_account("acme").config[k] for k in ("subdomain", "base_url", "webhook_secret")}
        url = start(loop.rt, "zendesk", "acme", kept,
                    public_url="http://127.0.0.1:9", tenant="default")
        location = httpx.get(url, follow_redirects=False, timeout=30).headers["location"]
        params = dict(p.split("=", 1) for p in location.split("?", 1)[1].split("&"))
        finish(loop.rt, "zendesk", params["state"], params["code"])
        assert (loop.rt.oauth_tokens.get("acme") or pytest.fail()).token["scope"] == "read"
        connector = loop.rt.connector(store.get_account("acme"))
        tid = loop.create("Where are my invoices?", "Where can I download my invoices?")
        assert connector.get_ticket(tid).subject == "Where are my invoices?"
        with pytest.raises(ScopeMissing) as caught:
            connector.http.request("PUT", f"/tickets/{tid}.json", json={"ticket": {"status": "open"}})
        assert caught.value.scopes == ["write"] and "write" in str(caught.value) and server.refresh_log == []
        assert (loop.rt.oauth_tokens.status("acme") or ("",))[0] == "needs_reauth"
