"""The ServiceNow simulator driven by the real clients, pysnow and pysnc, unchanged (FACTS.md §5, §12)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterator

import httpx
import pysnc
import pysnc.client
import pysnow
import pytest
import requests

from deskhand.sim import registry
from deskhand.sim.base import WebhookDelivery
from deskhand.sim.registry import DEFAULT_TOKEN, RunningSim, SimConfig
from deskhand.sim.servicenow_state import ServiceNowState
from deskhand.sim.servicenow_webhooks import BusinessRule

AUTH = ("admin", DEFAULT_TOKEN)


@pytest.fixture(scope="module")
def spec() -> registry.SimSpec:
    return registry.get("servicenow")


@pytest.fixture(scope="module")
def sim(spec: registry.SimSpec) -> Iterator[RunningSim]:
    with spec.start(SimConfig(tickets=25, seed=7)) as running:
        yield running


@pytest.fixture
def incidents(sim: RunningSim) -> pysnow.Resource:
    client = pysnow.Client(host=sim.url.removeprefix("http://"), use_ssl=False, user=AUTH[0], password=AUTH[1])
    return client.resource(api_path="/table/incident")


@pytest.fixture
def glide(sim: RunningSim, monkeypatch: pytest.MonkeyPatch) -> pysnc.ServiceNowClient:
    monkeypatch.setattr(pysnc.client, "get_instance", lambda instance: instance)  # pysnc refuses http:// (§12)
    return pysnc.ServiceNowClient(sim.url, AUTH)


def test_pysnow_create_computes_priority_from_impact_and_urgency(incidents: pysnow.Resource) -> None:
    row = incidents.create(payload={"short_description": "VPN drops every hour", "impact": "1", "urgency": "2"}).one()
    assert (row["state"], row["priority"], row["active"]) == ("1", "2", "true")
    assert re.fullmatch(r"INC\d{7}", row["number"]) and re.fullmatch(r"[0-9a-f]{32}", row["sys_id"])
    assert (row["comments"], row["work_notes"]) == ("", "")  # pysnc writes only fields it has read (§12)


def test_pysnow_pages_with_limit_and_offset_cover_the_query_once(sim: RunningSim, incidents: pysnow.Resource) -> None:
    want = sorted(r["sys_id"] for r in sim.state.tables["incident"].values() if r["active"] == "true")
    seen: list[str] = []
    for offset in range(0, len(want) + 7, 7):
        seen += [r["sys_id"] for r in incidents.get(query="active=true^ORDERBYsys_id", limit=7, offset=offset).all()]
    assert seen == want


def test_link_headers_walk_every_page_and_total_count_survives_suppression(sim: RunningSim) -> None:
    url = f"{sim.url}/api/now/table/incident?sysparm_query=ORDERBYDESCsys_updated_on&sysparm_limit=4"
    seen, pages = [], 0
    while url:
        response = httpx.get(url, auth=AUTH)
        assert response.status_code == 200
        assert response.headers["x-total-count"] == str(len(sim.state.tables["incident"]))
        seen += [r["sys_id"] for r in response.json()["result"]]
        links = dict((rel, u) for u, rel in re.findall(r'<([^>]+)>;rel="(\w+)"', response.headers["link"]))
        assert {"first", "prev", "last"} <= set(links)
        url, pages = links.get("next"), pages + 1
    assert sorted(seen) == sorted(sim.state.tables["incident"]) and pages == -(-len(seen) // 4)
    quiet = httpx.get(url or f"{sim.url}/api/now/table/incident",
                      params={"sysparm_limit": "2", "sysparm_suppress_pagination_header": "true"}, auth=AUTH)
    assert "link" not in quiet.headers and quiet.headers["x-total-count"] == str(len(seen))


def test_pysnc_glide_record_pages_through_every_match(sim: RunningSim, glide: pysnc.ServiceNowClient) -> None:
    record = glide.GlideRecord("incident", batch_size=6)
    record.add_query("priority", "<=", "3")
    record.query()
    got = [r.sys_id for r in record]
    want = [r["sys_id"] for r in sim.state.tables["incident"].values() if int(r["priority"]) <= 3]
    assert sorted(got) == sorted(want) and record.get_row_count() == len(want)


def test_hold_needs_a_reason_and_awaiting_caller_is_kept(incidents: pysnow.Resource) -> None:
    sys_id = incidents.create(payload={"short_description": "Laptop will not boot"}).one()["sys_id"]
    with pytest.raises(requests.HTTPError) as refused:  # pysnow raises the 403 as requests does
        incidents.update(query={"sys_id": sys_id}, payload={"state": "3"}).one()
    assert "mandatory: On hold reason" in refused.value.response.json()["error"]["detail"]
    row = incidents.update(query={"sys_id": sys_id}, payload={"state": "3", "hold_reason": "1"}).one()
    assert (row["state"], row["hold_reason"]) == ("3", "1")


@pytest.mark.parametrize(("values", "missing"), [
    pytest.param({}, "Resolution code, Resolution notes", id="neither"),
    pytest.param({"close_code": "Solved (Permanently)"}, "Resolution notes", id="no-notes"),
    pytest.param({"close_notes": "Rebooted the router."}, "Resolution code", id="no-code"),
    pytest.param({"close_code": "Solved (Permanently)", "close_notes": "  "}, "Resolution notes", id="blank-notes"),
])
def test_resolve_without_close_code_and_notes_is_refused_and_changes_nothing(
        sim: RunningSim, glide: pysnc.ServiceNowClient, values: dict[str, str], missing: str) -> None:
    sys_id = sim.state.create_incident({"short_description": "Printer jam"})["sys_id"]
    response = httpx.patch(f"{sim.url}/api/now/table/incident/{sys_id}", json={"state": "6", **values}, auth=AUTH)
    assert response.status_code == 403
    body = response.json()
    assert body["status"] == "failure" and body["error"]["message"] == "Operation Failed"
    assert f"mandatory: {missing}\n" in body["error"]["detail"]
    assert sim.state.tables["incident"][sys_id]["state"] == "1"


def test_pysnc_resolves_with_close_code_and_notes(sim: RunningSim, glide: pysnc.ServiceNowClient) -> None:
    sys_id = sim.state.create_incident({"short_description": "Printer jam"})["sys_id"]
    record = glide.GlideRecord("incident")
    assert record.get(sys_id)
    record.state, record.close_code, record.close_notes = "6", "Solved (Permanently)", "Cleared the jam."
    record.update()
    row = sim.state.tables["incident"][sys_id]
    assert (row["state"], row["close_code"], row["active"]) == ("6", "Solved (Permanently)", "true")
    assert row["resolved_at"] and row["resolved_by"] == sim.state.user("admin")["sys_id"]


def test_comments_and_work_notes_read_back_from_the_journal(
        sim: RunningSim, incidents: pysnow.Resource, glide: pysnc.ServiceNowClient) -> None:
    sys_id = incidents.create(payload={"short_description": "Email bounces"}).one()["sys_id"]
    record = glide.GlideRecord("incident")
    assert record.get(sys_id)
    record.comments = "We are on it."
    record.update()
    incidents.update(query={"sys_id": sys_id}, payload={"work_notes": "Mail relay queue is full."}).one()
    client = pysnow.Client(host=sim.url.removeprefix("http://"), use_ssl=False, user=AUTH[0], password=AUTH[1])
    journal = client.resource(api_path="/table/sys_journal_field").get(
        query=f"element_id={sys_id}^elementINcomments,work_notes^ORDERBYsys_created_on").all()
    assert [(j["element"], j["value"], j["sys_created_by"]) for j in journal] == [
        ("comments", "We are on it.", "admin"), ("work_notes", "Mail relay queue is full.", "admin")]
    shown = httpx.get(f"{sim.url}/api/now/table/incident/{sys_id}", params={"sysparm_display_value": "all"},
                      auth=AUTH).json()["result"]
    assert shown["comments"]["value"] == "" and "We are on it." in shown["comments"]["display_value"]
    assert "(Work notes)" in shown["work_notes"]["display_value"]


def test_the_callers_comment_takes_an_incident_off_awaiting_caller(sim: RunningSim) -> None:
    caller = sim.state.user("customer")
    row = sim.state.create_incident({"short_description": "Need a licence", "caller_id": caller["sys_id"]})
    sim.state.update_incident(row["sys_id"], {"state": "3", "hold_reason": "1", "comments": "Which edition?"})
    sim.state.update_incident(row["sys_id"], {"comments": "Professional, please."}, "customer")
    assert (row["state"], row["hold_reason"]) == ("2", "")


@pytest.mark.parametrize(("mode", "expected"), [
    pytest.param("false", {"link": True, "value": True}, id="values-with-links"),
    pytest.param("true", {"link": True, "display_value": True}, id="display-with-links"),
    pytest.param("all", {"link": True, "value": True, "display_value": True}, id="all"),
])
def test_reference_fields_carry_links_unless_excluded(sim: RunningSim, mode: str, expected: dict[str, bool]) -> None:
    caller = sim.state.user("customer")
    sys_id = sim.state.create_incident({"short_description": "x", "caller_id": caller["sys_id"]})["sys_id"]
    url = f"{sim.url}/api/now/table/incident/{sys_id}"
    shown = httpx.get(url, params={"sysparm_display_value": mode}, auth=AUTH).json()["result"]["caller_id"]
    assert set(shown) == set(expected) and shown["link"].endswith(f"/api/now/table/sys_user/{caller['sys_id']}")
    bare = httpx.get(url, params={"sysparm_display_value": mode, "sysparm_exclude_reference_link": "true",
                                  "sysparm_fields": "caller_id,number"}, auth=AUTH).json()["result"]
    assert set(bare) == {"caller_id", "number"} and "link" not in (bare["caller_id"] if mode == "all" else {})


@pytest.mark.parametrize(("method", "path", "auth", "status", "message"), [
    pytest.param("GET", "/api/now/table/incident", ("admin", "wrong"), 401, "User Not Authenticated",
                 id="bad-password"),
    pytest.param("GET", "/api/now/table/incident/" + "0" * 32, AUTH, 404, "No Record found", id="no-record"),
    pytest.param("GET", "/api/now/table/incidents", AUTH, 400, "Invalid table incidents", id="bad-table"),
    pytest.param("POST", "/api/now/table/incident", AUTH, 400, "Exception while reading request", id="bad-json"),
])
def test_errors_are_failure_bodies(sim: RunningSim, method: str, path: str, auth: tuple[str, str], status: int,
                                   message: str) -> None:
    response = httpx.request(method, sim.url + path, auth=auth, content=b"{not json",
                             headers={"content-type": "application/json"})
    assert response.status_code == status
    assert response.json()["status"] == "failure" and response.json()["error"]["message"] == message


def test_a_rate_limit_rule_answers_429_with_its_headers(spec: registry.SimSpec) -> None:
    with spec.start(SimConfig(rate_limit=3)) as limited:
        answers = [httpx.get(f"{limited.url}/api/now/table/sys_user", auth=AUTH) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    last = answers[-1]
    assert last.headers["x-ratelimit-limit"] == "3" and last.headers["x-ratelimit-rule"]
    assert int(last.headers["x-ratelimit-reset"]) > 1_700_000_000 and int(last.headers["retry-after"]) > 0
    assert "exceeded the rate limit of 3 requests per hour" in last.json()["error"]["detail"]


def test_a_deleted_incident_is_gone_and_remembered(sim: RunningSim, incidents: pysnow.Resource) -> None:
    sys_id = incidents.create(payload={"short_description": "Duplicate"}).one()["sys_id"]
    assert httpx.delete(f"{sim.url}/api/now/table/incident/{sys_id}", auth=AUTH).status_code == 204
    assert httpx.get(f"{sim.url}/api/now/table/incident/{sys_id}", auth=AUTH).status_code == 404
    assert sys_id in sim.state.deleted["incident"]


@pytest.mark.parametrize("mode", ["hmac", "basic"])
def test_the_business_rule_delivers_the_documented_signed_body(mode: str) -> None:
    seen: list[httpx.Request] = []

    def receive(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    state = ServiceNowState()
    state.add_user("admin", "System Administrator", "admin@acme.test")
    delivery = WebhookDelivery(max_attempts=1, transport=httpx.MockTransport(receive))
    BusinessRule(state, "http://127.0.0.1:9/hooks", "s3cret", mode=mode, delivery=delivery)
    row = state.create_incident({"short_description": "Wi-Fi down"})
    state.update_incident(row["sys_id"], {"comments": "Looking now"})
    state.update_incident(row["sys_id"], {"urgency": "1"})
    state.delete("incident", row["sys_id"])
    assert delivery.drain(30)
    delivery.close()
    bodies = [json.loads(r.content) for r in seen]
    assert [b["event"] for b in bodies] == ["created", "commented", "updated", "deleted"]
    assert bodies[1]["journal"]["element"] == "comments" and "urgency" in bodies[2]["changed_fields"]
    assert len({b["delivery_id"] for b in bodies}) == 4 and all(b["sys_id"] == row["sys_id"] for b in bodies)
    for request in seen:
        if mode == "hmac":
            want = base64.b64encode(hmac.new(b"s3cret", request.content, hashlib.sha256).digest()).decode()
            assert request.headers["x-deskhand-signature"] == want
        else:
            assert request.headers["authorization"] == "Basic " + base64.b64encode(b"servicenow:s3cret").decode()


def test_pysnow_oauth_client_gets_refreshes_and_uses_a_bearer_token(sim: RunningSim,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # requests-oauthlib refuses http:// otherwise
    updates: list[dict[str, object]] = []
    client = pysnow.OAuthClient(client_id="deskhand-sim-client", client_secret=DEFAULT_TOKEN,
                                token_updater=updates.append, host=sim.url.removeprefix("http://"), use_ssl=False)
    token = client.generate_token("admin", DEFAULT_TOKEN)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 1799
    client.set_token(token)
    rows = client.resource(api_path="/table/incident").get(query="active=true", limit=3).all()
    assert len(list(rows)) == 3
    refreshed = httpx.post(f"{sim.url}/oauth_token.do", data={
        "grant_type": "refresh_token", "client_id": "deskhand-sim-client", "client_secret": DEFAULT_TOKEN,
        "refresh_token": token["refresh_token"]}).json()
    assert refreshed["access_token"] != token["access_token"] and refreshed["refresh_token"] == token["refresh_token"]
    who = httpx.get(f"{sim.url}/api/now/table/sys_user", params={"sysparm_query": "user_name=admin"},
                    headers={"Authorization": f"Bearer {refreshed['access_token']}"})
    assert who.status_code == 200 and who.json()["result"][0]["user_name"] == "admin"


@pytest.mark.parametrize(("form", "status"), [
    pytest.param({"grant_type": "password", "client_id": "deskhand-sim-client", "client_secret": "no",
                  "username": "admin", "password": DEFAULT_TOKEN}, 401, id="wrong-client-secret"),
    pytest.param({"grant_type": "password", "client_id": "deskhand-sim-client", "client_secret": DEFAULT_TOKEN,
                  "username": "admin", "password": "no"}, 401, id="wrong-password"),
    pytest.param({"grant_type": "refresh_token", "client_id": "deskhand-sim-client", "client_secret": DEFAULT_TOKEN,
                  "refresh_token": "made-up"}, 401, id="unknown-refresh-token"),
    pytest.param({"grant_type": "implicit", "client_id": "deskhand-sim-client", "client_secret": DEFAULT_TOKEN},
                 400, id="unknown-grant"),
])
def test_oauth_refusals(sim: RunningSim, form: dict[str, str], status: int) -> None:
    answer = httpx.post(f"{sim.url}/oauth_token.do", data=form)
    assert answer.status_code == status and "access_token" not in answer.json()
    bogus = httpx.get(f"{sim.url}/api/now/table/incident", headers={"Authorization": "Bearer made-up"})
    assert bogus.status_code == 401
