"""Jira Cloud + JSM simulator over loopback: real clients unchanged, webhooks, rate limits."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from atlassian import Jira
from jira import JIRA, JIRAError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from deskhand.sim.base import ManualClock, SimServer
from deskhand.sim.jira import DEFAULT_EMAIL, DEFAULT_TOKEN, JiraSimServer, RateLimits, start
from deskhand.sim.jira_state import JiraState
from deskhand.sim.jira_webhooks import JiraWebhookDelivery

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DESKHAND_SHARED_DIR") or REPO.parent / "shared")
AUTH = (DEFAULT_EMAIL, DEFAULT_TOKEN)
AGENT = "557058:0a4f9c2e-agent-0001"


def adf(text: str) -> dict[str, Any]:
    paragraph = {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    return {"type": "doc", "version": 1, "content": [paragraph]}


@pytest.fixture
def sim() -> Iterator[JiraSimServer]:
    server = start(rate_limits=RateLimits.off())
    yield server
    server.stop()


@pytest.fixture
def http(sim: JiraSimServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, auth=AUTH, timeout=10) as client:
        yield client


def seed(server: JiraSimServer, count: int) -> None:
    project = server.state.project("SUP")
    assert project is not None
    for n in range(count):
        server.state.create_issue(project, summary=f"seeded {n}", issuetype=("10001", "Task"), reporter=AGENT,
                                  now=datetime(2024, 1, 1, tzinfo=UTC))


# ------------------------------------------------------------------------------------- pycontribs jira


def test_jira_client_creates_reads_comments_assigns_and_transitions(sim: JiraSimServer) -> None:
    j = JIRA(server=sim.url, basic_auth=AUTH, options={"rest_api_version": "3"})
    assert j.server_info()["deploymentType"] == "Cloud"
    issue = j.create_issue(fields={"project": {"key": "SUP"}, "issuetype": {"name": "Task"},
                                   "summary": "Printer on fire", "description": adf("It smokes")})
    assert issue.key == "SUP-1" and issue.fields.status.name == "Open"
    assert issue.raw["fields"]["description"] == adf("It smokes")

    j.add_comment(issue, adf("we are on it"))
    j.add_comment(issue, adf("agent-only note"), is_internal=True)
    assert [(c.raw["body"]["content"][0]["content"][0]["text"], c.jsdPublic) for c in j.comments(issue)] == [
        ("we are on it", True), ("agent-only note", False)]

    j.assign_issue(issue, AGENT)
    assert j.issue(issue.key).fields.assignee.accountId == AGENT

    assert [t["name"] for t in j.transitions(issue)] == ["Start progress", "Wait for customer", "Resolve", "Close"]
    j.transition_issue(issue, "Resolve")
    resolved = j.issue(issue.key, expand="changelog")
    assert resolved.fields.status.name == "Resolved"
    assert resolved.fields.status.statusCategory.key == "done"
    assert resolved.fields.resolution.name == "Done"
    assert [t["name"] for t in j.transitions(issue)] == ["Close", "Reopen"]
    fields_changed = [item["field"] for h in resolved.raw["changelog"]["histories"] for item in h["items"]]
    assert fields_changed == ["status", "resolution", "assignee"]  # newest history first


def test_jira_client_rejects_transition_not_allowed_from_current_status(sim: JiraSimServer) -> None:
    j = JIRA(server=sim.url, basic_auth=AUTH, options={"rest_api_version": "3"})
    issue = j.create_issue(fields={"project": {"key": "SUP"}, "issuetype": {"id": "10001"}, "summary": "x"})
    with pytest.raises(JIRAError) as err:
        j.transition_issue(issue, "61")  # Reopen: only from Resolved/Closed
    assert err.value.status_code == 400
    assert "Transition id '61' is not valid for this issue." in err.value.text
    assert j.issue(issue.key).fields.status.name == "Open"


def test_jira_client_pages_search_with_next_page_token(sim: JiraSimServer) -> None:
    seed(sim, 230)
    j = JIRA(server=sim.url, basic_auth=AUTH, options={"rest_api_version": "3"})
    found = j.search_issues("project = SUP ORDER BY key ASC", maxResults=False, fields="summary")
    assert len(found) == 230
    assert [i.key for i in found[:2]] == ["SUP-1", "SUP-2"] and found[-1].key == "SUP-230"
    assert found[5].fields.summary == "seeded 5"


def test_jira_client_edits_labels_and_priority(sim: JiraSimServer) -> None:
    j = JIRA(server=sim.url, basic_auth=AUTH)  # default REST v2: wiki strings
    issue = j.create_issue(fields={"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "s",
                                   "description": "h2. Steps\n\n* *click* save"})
    issue.update(fields={"labels": ["vip", "billing"], "priority": {"name": "High"}})
    issue.update(update={"labels": [{"add": "refund"}, {"remove": "vip"}]})
    fresh = j.issue(issue.key)
    assert fresh.fields.labels == ["billing", "refund"]
    assert fresh.fields.priority.name == "High"
    assert fresh.fields.description == "h2. Steps\n\n* *click* save"


# ----------------------------------------------------------------------------- atlassian-python-api


def test_atlassian_client_creates_pages_comments_and_moves_status(sim: JiraSimServer) -> None:
    seed(sim, 7)
    jira = Jira(url=sim.url, username=DEFAULT_EMAIL, password=DEFAULT_TOKEN, cloud=True)
    created = jira.issue_create(fields={"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "New"})
    assert created["key"] == "SUP-8"

    first = jira.jql("project = SUP ORDER BY key DESC", limit=5, fields="summary,status")
    assert [i["key"] for i in first["issues"]] == ["SUP-8", "SUP-7", "SUP-6", "SUP-5", "SUP-4"]
    assert first["isLast"] is False
    rest = jira.enhanced_jql("project = SUP ORDER BY key DESC", limit=5, fields="summary",
                             nextPageToken=first["nextPageToken"])
    assert [i["key"] for i in rest["issues"]] == ["SUP-3", "SUP-2", "SUP-1"] and rest["isLast"] is True
    assert "nextPageToken" not in rest

    jira.issue_add_comment("SUP-8", "Thanks, *looking*")
    jira.set_issue_status("SUP-8", "Waiting for customer")
    assert jira.get_issue_status("SUP-8") == "Waiting for customer"
    jira.assign_issue("SUP-8", account_id=AGENT)
    issue = jira.issue("SUP-8")
    assert issue["fields"]["assignee"]["accountId"] == AGENT
    assert issue["fields"]["comment"]["comments"][0]["body"] == "Thanks, *looking*"


# ------------------------------------------------------------------------------------------- raw REST


def test_v3_rejects_string_bodies_and_v2_accepts_wiki(http: httpx.Client) -> None:
    fields = {"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "s", "description": "plain"}
    bad = http.post("/rest/api/3/issue", json={"fields": fields})
    assert bad.status_code == 400
    assert bad.json() == {"errorMessages": [], "errors": {"description": (
        "Operation value must be an Atlassian Document (see the Atlassian Document Format).")}}
    ok = http.post("/rest/api/2/issue", json={"fields": fields})
    assert ok.status_code == 201
    assert http.get(f"/rest/api/3/issue/{ok.json()['key']}").json()["fields"]["description"] == adf("plain")


ERRORS = {
    "unknown_issue": ("GET", "/rest/api/3/issue/SUP-999", None, 404,
                      "Issue does not exist or you do not have permission to see it."),
    "bad_jql": ("GET", "/rest/api/3/search/jql?jql=status%20~%20x", None, 400,
                "The operator '~' is not supported by the 'status' field."),
    "unbounded_jql": ("GET", "/rest/api/3/search/jql?jql=ORDER%20BY%20key", None, 400,
                      "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."),
    "unknown_project_in_jql": ("POST", "/rest/api/3/search/jql", {"jql": "project = NOPE"}, 400,
                               "The value 'NOPE' does not exist for the field 'project'."),
    "status_cannot_be_set": ("PUT", "/rest/api/3/issue/SUP-1", {"fields": {"status": {"name": "Closed"}}}, 400,
                             "Field 'status' cannot be set. It is not on the appropriate screen, or unknown."),
}


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), ERRORS.values(), ids=ERRORS.keys())
def test_errors_use_jira_error_shape(sim: JiraSimServer, http: httpx.Client, method: str, path: str,
                                     body: Any, status: int, message: str) -> None:
    seed(sim, 1)
    response = http.request(method, path, json=body)
    assert response.status_code == status
    payload = response.json()
    assert set(payload) == {"errorMessages", "errors"}
    assert message in payload["errorMessages"] + list(payload["errors"].values())


def test_wrong_token_is_401(sim: JiraSimServer) -> None:
    response = httpx.get(f"{sim.url}/rest/api/3/myself", auth=(DEFAULT_EMAIL, "nope"))
    assert response.status_code == 401
    assert response.json()["errorMessages"] == ["Client must be authenticated to access this resource."]


def test_classic_search_pages_with_start_at_and_total(sim: JiraSimServer, http: httpx.Client) -> None:
    seed(sim, 12)
    page = http.get("/rest/api/2/search", params={"jql": "project = SUP ORDER BY key", "startAt": 10,
                                                  "maxResults": 5}).json()
    assert (page["startAt"], page["maxResults"], page["total"]) == (10, 5, 12)
    assert [i["key"] for i in page["issues"]] == ["SUP-11", "SUP-12"]
    assert page["issues"][0]["fields"]["status"]["statusCategory"]["key"] == "new"


def test_jsm_request_comments_public_and_internal(sim: JiraSimServer, http: httpx.Client) -> None:
    created = http.post("/rest/servicedeskapi/request", json={
        "serviceDeskId": "1", "requestTypeId": "1", "raiseOnBehalfOf": "cara@customer.test",
        "requestFieldValues": {"summary": "VPN down", "description": "since 9am"}})
    assert created.status_code == 201
    key = created.json()["issueKey"]
    assert created.json()["reporter"]["emailAddress"] == "cara@customer.test"
    assert created.json()["currentStatus"]["status"] == "Open"
    for body, public in (("We are looking", True), ("Customer is on the old client", False)):
        assert http.post(f"/rest/servicedeskapi/request/{key}/comment",
                         json={"body": body, "public": public}).status_code == 201
    everything = http.get(f"/rest/servicedeskapi/request/{key}/comment").json()
    assert [(c["body"], c["public"]) for c in everything["values"]] == [
        ("We are looking", True), ("Customer is on the old client", False)]
    public_only = http.get(f"/rest/servicedeskapi/request/{key}/comment", params={"internal": "false"}).json()
    assert [c["body"] for c in public_only["values"]] == ["We are looking"]
    platform = http.get(f"/rest/api/3/issue/{key}/comment", params={"expand": "properties"}).json()
    assert [c["jsdPublic"] for c in platform["comments"]] == [True, False]
    assert platform["comments"][1]["properties"] == [{"key": "sd.public.comment", "value": {"internal": True}}]

    transitions = http.get(f"/rest/servicedeskapi/request/{key}/transition").json()["values"]
    assert {"id": "21", "name": "Wait for customer"} in transitions
    moved = http.post(f"/rest/servicedeskapi/request/{key}/transition",
                      json={"id": "21", "additionalComment": {"body": "Can you send a screenshot?"}})
    assert moved.status_code == 204
    request = http.get(f"/rest/servicedeskapi/request/{key}").json()
    assert request["currentStatus"]["status"] == "Waiting for customer"
    assert request["currentStatus"]["statusCategory"] == "INDETERMINATE"
    last = http.get(f"/rest/servicedeskapi/request/{key}/comment").json()["values"][-1]
    assert (last["body"], last["public"]) == ("Can you send a screenshot?", True)


# ------------------------------------------------------------------------------------------- webhooks


class Receiver:
    """A loopback webhook receiver that fails the first `fail_first` deliveries with 503."""

    def __init__(self, fail_first: int = 0):
        self.fail_first = fail_first
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        self.server = SimServer(Starlette(routes=[Route("/hook", self.hook, methods=["POST"])]))

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            self.calls.append((dict(request.headers), body))
            failing = len(self.calls) <= self.fail_first
        return Response(status_code=503 if failing else 200)


def test_webhooks_are_signed_retried_with_stable_identifier_and_carry_changelog() -> None:
    receiver = Receiver(fail_first=1)
    receiver.server.start()
    sim = start(rate_limits=RateLimits.off(), webhook_url=f"{receiver.server.url}/hook", webhook_secret="s3cret",
                webhook_delivery=JiraWebhookDelivery(backoff_s=0.05, max_backoff_s=0.1))
    try:
        with httpx.Client(base_url=sim.url, auth=AUTH) as http:
            key = http.post("/rest/api/3/issue", json={"fields": {
                "project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "hook me"}}).json()["key"]
            http.post(f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": "11"}})
            http.post(f"/rest/api/3/issue/{key}/comment", json={"body": adf("hi")})
        assert sim.webhooks.delivery is not None and sim.webhooks.delivery.drain(10)
    finally:
        sim.stop()
        receiver.server.stop()
    by_delivery: dict[str, list[tuple[dict[str, str], bytes]]] = {}
    for headers, body in receiver.calls:
        expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        assert headers["x-hub-signature"] == expected
        by_delivery.setdefault(headers["x-atlassian-webhook-identifier"], []).append((headers, body))
    deliveries = list(by_delivery.values())
    first, retry = deliveries[0]  # the receiver failed the first attempt with 503
    assert first[1] == retry[1]
    assert "x-atlassian-webhook-retry" not in first[0] and retry[0]["x-atlassian-webhook-retry"] == "1"
    assert all(len(d) == 1 for d in deliveries[1:])
    payloads = sorted((json.loads(d[-1][1]) for d in deliveries), key=lambda p: p["timestamp"])
    events = [(p["webhookEvent"], p.get("issue_event_type_name")) for p in payloads]
    assert sorted(events, key=str) == sorted([
        ("jira:issue_created", "issue_created"), ("jira:issue_updated", "issue_generic"),
        ("comment_created", None), ("jira:issue_updated", "issue_commented")], key=str)
    updated = next(p for p in payloads if p.get("issue_event_type_name") == "issue_generic")
    assert updated["changelog"]["items"] == [{"field": "status", "fieldtype": "jira", "fieldId": "status",
                                              "from": "1", "fromString": "Open", "to": "3",
                                              "toString": "In Progress"}]
    assert updated["issue"]["self"].endswith("/rest/api/2/issue/" + updated["issue"]["id"])
    assert updated["issue"]["fields"]["status"]["name"] == "In Progress"
    comment = next(p for p in payloads if p["webhookEvent"] == "comment_created")
    assert comment["comment"]["body"] == "hi" and comment["issue"]["key"] == key


def test_issue_created_webhook_has_the_real_payload_shape(sim: JiraSimServer, http: httpx.Client) -> None:
    real = json.loads((SHARED / "fixtures/zulip/jira_issue_created.json").read_text())
    http.post("/rest/api/2/issue", json={"fields": {"project": {"key": "SUP"}, "issuetype": {"name": "Task"},
                                                    "summary": "x", "description": "Fix me please"}})
    ours = sim.webhooks.sent[0]
    assert set(real) <= set(ours)
    real_fields = {k for k in real["issue"]["fields"] if not k.startswith("customfield_")}
    assert real_fields <= set(ours["issue"]["fields"])
    for name in ("status", "priority", "issuetype", "project"):
        assert set(real["issue"]["fields"][name]) <= set(ours["issue"]["fields"][name])
    assert set(real["user"]) - {"name"} <= set(ours["user"])  # Cloud has no usernames (GDPR)
    assert ours["issue"]["fields"]["description"] == "Fix me please"


# ---------------------------------------------------------------------------------------- rate limits


def test_clients_survive_burst_429() -> None:
    limited = start(rate_limits=RateLimits(burst={"GET": 1, "POST": 100, "PUT": 50, "DELETE": 50}, overrides={}))
    try:
        j = JIRA(server=limited.url, basic_auth=AUTH, options={"rest_api_version": "3"})
        assert j.myself()["accountId"] == AGENT
        assert j.myself()["accountId"] == AGENT  # second GET /myself within the second: 429, retried
        assert limited.sim.limiter.denials == ["jira-burst-based"]
        atl = Jira(url=limited.url, username=DEFAULT_EMAIL, password=DEFAULT_TOKEN, cloud=True)
        assert atl.myself()["accountId"] == AGENT
        assert limited.sim.limiter.denials.count("jira-burst-based") >= 2  # each client met a 429
    finally:
        limited.stop()


def _limited(clock: ManualClock, limits: RateLimits) -> tuple[JiraSimServer, httpx.Client]:
    server = start(JiraState.default(), rate_limits=limits, clock=clock)
    return server, httpx.Client(base_url=server.url, auth=AUTH)


def test_burst_429_headers_and_window_reset() -> None:
    clock = ManualClock(start=1_700_000_000.0)
    server, http = _limited(clock, RateLimits(burst={"GET": 2}, overrides={}))
    try:
        ok = http.get("/rest/api/3/myself")
        assert ok.headers["x-ratelimit-limit"] == "2" and ok.headers["x-ratelimit-remaining"] == "1"
        http.get("/rest/api/3/myself")
        denied = http.get("/rest/api/3/myself")
        assert denied.status_code == 429
        assert denied.headers["retry-after"] == "1"
        assert denied.headers["ratelimit-reason"] == "jira-burst-based"
        assert denied.headers["x-ratelimit-reset"] == "2023-11-14T22:13:21Z"
        assert http.get("/rest/api/3/project").status_code == 200  # buckets are per endpoint x method
        clock.advance(1.0)
        assert http.get("/rest/api/3/myself").status_code == 200
    finally:
        http.close()
        server.stop()


def test_per_issue_write_limit() -> None:
    clock = ManualClock(start=1_700_000_000.0)
    server, http = _limited(clock, RateLimits(per_issue_writes=((2, 2.0),)))
    seed(server, 2)
    try:
        for _ in range(2):
            assert http.post("/rest/api/3/issue/SUP-1/comment", json={"body": adf("x")}).status_code == 201
        denied = http.put("/rest/api/3/issue/SUP-1", json={"fields": {"summary": "y"}})
        assert denied.status_code == 429
        assert denied.headers["ratelimit-reason"] == "jira-per-issue-on-write"
        assert denied.headers["retry-after"] == "2"
        assert http.post("/rest/api/3/issue/SUP-2/comment", json={"body": adf("x")}).status_code == 201
        clock.advance(2.0)
        assert http.put("/rest/api/3/issue/SUP-1", json={"fields": {"summary": "y"}}).status_code == 204
    finally:
        http.close()
        server.stop()


def test_hourly_points_quota_denies_until_top_of_hour() -> None:
    clock = ManualClock(start=1_700_000_000.0)  # 22:13:20 UTC
    server, http = _limited(clock, RateLimits(hourly_points=10))
    seed(server, 3)
    try:
        first = http.get("/rest/api/3/issue/SUP-1")  # 2 points
        assert first.headers["x-ratelimit-limit"] == "10" and first.headers["x-ratelimit-remaining"] == "10"
        http.get("/rest/api/3/search/jql", params={"jql": "project = SUP"})  # 1 + 3 issues
        near = http.get("/rest/api/3/myself")  # 10 - 6 = 4 left before it
        assert near.headers["x-ratelimit-remaining"] == "4" and "x-ratelimit-nearlimit" not in near.headers
        http.get("/rest/api/3/myself")
        http.get("/rest/api/3/myself")
        warn = http.get("/rest/api/3/myself")
        assert warn.headers["x-ratelimit-nearlimit"] == "true"
        denied = http.get("/rest/api/3/myself")
        assert denied.status_code == 429
        assert denied.headers["ratelimit-reason"] == "jira-quota-tenant-based"
        assert denied.headers["x-ratelimit-reset"] == "2023-11-14T23:00:00Z"
        assert denied.headers["retry-after"] == str(23 * 3600 - (22 * 3600 + 13 * 60 + 20))
        clock.advance(int(denied.headers["retry-after"]))
        assert http.get("/rest/api/3/myself").status_code == 200
    finally:
        http.close()
        server.stop()
