"""The Linear simulator driven over loopback by unchanged clients: gql (a generic GraphQL client that
introspects the schema and validates its queries against it) and linear-api 0.2.0 (FACTS §3.6; its
endpoint is a local variable, so its `requests` module is replaced by a shim that sends the same call
to the simulator). Also: auth, Relay paging, filters, complexity and throttling, signed webhooks
and their retries (FACTS §3.4, §3.5)."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import types
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.requests import RequestsHTTPTransport
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from deskhand.sim.base import ManualClock, SimServer
from deskhand.sim.linear import create_app
from deskhand.sim.linear_state import LinearState

KEY = "lin_api_test_key"
T0 = 1_796_000_000.0


class Sim:
    def __init__(self, state: LinearState, **kw: Any) -> None:
        self.state = state
        self.app = create_app(state, api_key=KEY, **kw)
        self.server = SimServer(self.app)
        self.url = ""

    def __enter__(self) -> Sim:
        self.server.start()
        self.url = self.server.url
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self.app.state.delivery.close()

    def client(self, key: str = KEY, schema: bool = True) -> Client:
        transport = RequestsHTTPTransport(url=f"{self.url}/graphql", headers={"Authorization": key}, retries=0)
        return Client(transport=transport, fetch_schema_from_transport=schema)


@pytest.fixture
def sim() -> Iterator[Sim]:
    state = LinearState()
    state.seed_issues(12, random.Random(3))
    with Sim(state) as running:
        yield running


def test_gql_introspects_linears_schema_and_creates_updates_comments_and_pages(sim: Sim) -> None:
    team = sim.state.team
    with sim.client() as session:
        assert session.client.schema is not None and "IssueCreateInput" in session.client.schema.type_map
        states = session.execute(gql("query($t: ID) { workflowStates(filter: {team: {id: {eq: $t}}}) "
                                     "{ nodes { id name type } } }"), variable_values={"t": team["id"]})
        done = next(s for s in states["workflowStates"]["nodes"] if s["type"] == "completed")
        labels = session.execute(gql("{ issueLabels { nodes { id name } } }"))["issueLabels"]["nodes"]
        bug = next(lab["id"] for lab in labels if lab["name"] == "Bug")
        billing = next(lab["id"] for lab in labels if lab["name"] == "Billing")
        agent = session.execute(gql("{ viewer { id name } }"))["viewer"]
        made = session.execute(gql("""mutation($input: IssueCreateInput!) {
            issueCreate(input: $input) { success issue { id identifier url priority state { type } } } }"""),
            variable_values={"input": {"teamId": team["id"], "title": "Printer on fire", "description": "**Help**",
                                       "priority": 1, "labelIds": [bug]}})["issueCreate"]
        assert made["success"] and made["issue"]["identifier"] == "SUP-13" and made["issue"]["priority"] == 1
        assert made["issue"]["state"]["type"] == "triage"
        issue_id = made["issue"]["id"]
        updated = session.execute(gql("""mutation($id: String!, $input: IssueUpdateInput!) {
            issueUpdate(id: $id, input: $input) { success issue { state { name } assignee { name }
            labels { nodes { name } } priority } } }"""),
            variable_values={"id": issue_id, "input": {"stateId": done["id"], "assigneeId": agent["id"],
                                                       "priority": 3, "addedLabelIds": [billing],
                                                       "removedLabelIds": [bug]}})["issueUpdate"]["issue"]
        assert updated == {"state": {"name": "Done"}, "assignee": {"name": "Deskhand Bot"},
                           "labels": {"nodes": [{"name": "Billing"}]}, "priority": 3.0}
        session.execute(gql("mutation($input: CommentCreateInput!) { commentCreate(input: $input) { success "
                            "comment { id body } } }"),
                        variable_values={"input": {"issueId": "SUP-13", "body": "On it"}})
        comments = session.execute(gql("query($id: String!) { issue(id: $id) { comments { nodes { body "
                                       "user { name } } } } }"),
                                   variable_values={"id": issue_id})["issue"]["comments"]["nodes"]
        assert comments == [{"body": "On it", "user": {"name": "Deskhand Bot"}}]
        seen: list[str] = []
        after = None
        query = gql("""query($after: String, $t: ID) { issues(first: 5, after: $after, orderBy: updatedAt,
            filter: {team: {id: {eq: $t}}}) { nodes { id updatedAt } pageInfo { hasNextPage endCursor } } }""")
        while True:
            page = session.execute(query, variable_values={"after": after, "t": team["id"]})["issues"]
            seen += [n["id"] for n in page["nodes"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert len(seen) == len(set(seen)) == 13 and seen[0] == issue_id  # newest update first


def test_updated_at_filters_select_the_changes_since_a_time(sim: Sim) -> None:
    stamps = sorted(i["updatedAt"] for i in sim.state.issues.values())
    with sim.client(schema=False) as session:
        got = session.execute(gql("query($since: DateTimeOrDuration) { issues(filter: {updatedAt: {gt: $since}}) "
                                  "{ nodes { updatedAt } } }"), variable_values={"since": stamps[8]})
    assert sorted(n["updatedAt"] for n in got["issues"]["nodes"]) == stamps[9:]


def test_search_issues_follows_the_sdl_relevance_filter_and_pages(sim: Sim) -> None:
    """`searchIssues(term:, filter:, teamId:, first:, after:)` answers IssueSearchPayload (gql validates it
    against the introspected schema): every word must match, title hits rank over description ones,
    `filter` narrows, pages follow the cursor, totalCount counts all matches."""
    team, other = sim.state.team, sim.state.add_team("Ops", "OPS")
    me = sim.state.viewer["id"]
    body = sim.state.create_issue({"teamId": team["id"], "title": "Export fails", "description": "walrus in body"},
                                  me, quiet=True)
    title = sim.state.create_issue({"teamId": team["id"], "title": "Walrus sighting", "description": "x"}, me,
                                   quiet=True)
    elsewhere = sim.state.create_issue({"teamId": other["id"], "title": "Walrus too"}, me, quiet=True)
    query = gql("""query($term: String!, $after: String, $filter: IssueFilter) {
        searchIssues(term: $term, first: 1, after: $after, filter: $filter) {
        nodes { id identifier team { key } } pageInfo { hasNextPage endCursor } totalCount } }""")
    with sim.client() as session:
        seen, after = [], None
        while True:
            page = session.execute(query, variable_values={"term": "WALRUS", "after": after,
                                                           "filter": {"team": {"id": {"eq": team["id"]}}}})
            seen += [n["id"] for n in page["searchIssues"]["nodes"]]
            assert page["searchIssues"]["totalCount"] == 2
            if not page["searchIssues"]["pageInfo"]["hasNextPage"]:
                break
            after = page["searchIssues"]["pageInfo"]["endCursor"]
        assert seen == [title["id"], body["id"]]  # the title hit first
        everywhere = session.execute(query, variable_values={"term": "walrus too"})["searchIssues"]
        assert [n["id"] for n in everywhere["nodes"]] == [elsewhere["id"]]  # every word must match
        none = session.execute(query, variable_values={"term": "walrus absent"})["searchIssues"]
        assert none["nodes"] == [] and none["totalCount"] == 0
        with pytest.raises(Exception, match="term should not be empty"):
            session.execute(query, variable_values={"term": "  "})


@pytest.mark.parametrize(("header", "ok"), [(KEY, True), (f"Bearer {KEY}", True), ("wrong", False), ("", False)],
                         ids=["api-key-bare", "bearer", "wrong-key", "none"])
def test_a_request_needs_a_known_key_in_authorization(sim: Sim, header: str, ok: bool) -> None:
    answer = requests.post(f"{sim.url}/graphql", json={"query": "{ viewer { id } }"},
                           headers={"Authorization": header} if header else {}, timeout=10)
    assert (answer.status_code == 200) is ok
    if not ok:
        assert answer.status_code == 400 and answer.json()["errors"][0]["extensions"]["code"] == "AUTHENTICATION_ERROR"


def test_linear_api_reads_and_creates_issues_through_its_own_queries(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    import linear_api.utils.api as linear_http
    from linear_api import LinearClient
    from linear_api.domain import LinearIssueInput

    shim = types.SimpleNamespace(exceptions=requests.exceptions,
                                 post=lambda _endpoint, **kw: requests.post(f"{sim.url}/graphql", timeout=30, **kw))
    monkeypatch.setattr(linear_http, "requests", shim)
    client = LinearClient(api_key=KEY)
    one = next(iter(sim.state.issues.values()))
    issue = client.issues.get(one["id"])
    assert (issue.id, issue.title, issue.identifier) == (one["id"], one["title"], one["identifier"])
    teams = client.teams.get_all()
    assert [t.key for t in teams.values()] == ["SUP"]
    made = client.issues.create(LinearIssueInput(title="From linear-api", teamName="Support", description="hi"))
    assert made.title == "From linear-api" and sim.state.issue(made.id)["description"] == "hi"


def test_complexity_is_counted_and_too_complex_queries_are_refused(sim: Sim) -> None:
    cheap = requests.post(f"{sim.url}/graphql", json={"query": "{ issues(first: 10) { nodes { id title } } }"},
                          headers={"Authorization": KEY}, timeout=10)
    assert cheap.headers["x-complexity"] == "13"  # 1 + 10 × (1 nodes + 2 × 0.1), rounded up
    huge = requests.post(f"{sim.url}/graphql", headers={"Authorization": KEY}, timeout=10, json={
        "query": "{ issues(first: 250) { nodes { comments(first: 250) { nodes { id } } } } }"})
    assert huge.status_code == 400 and huge.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


def test_an_exhausted_request_budget_answers_400_ratelimited_with_epoch_ms_resets() -> None:
    clock = ManualClock(T0)
    with Sim(LinearState(clock=clock), rate_limit=3, period_s=60.0) as sim:
        answers = [requests.post(f"{sim.url}/graphql", json={"query": "{ viewer { id } }"},
                                 headers={"Authorization": KEY}, timeout=10) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 400]
        throttled = answers[-1]
        assert throttled.json()["errors"][0]["extensions"]["code"] == "RATELIMITED"
        assert throttled.headers["x-ratelimit-requests-remaining"] == "0"
        assert int(throttled.headers["x-ratelimit-requests-reset"]) == int((T0 + 60) * 1000)
        clock.advance(20)  # a leaky bucket: one request back every 20 s
        again = requests.post(f"{sim.url}/graphql", json={"query": "{ viewer { id } }"},
                              headers={"Authorization": KEY}, timeout=10)
        assert again.status_code == 200
        with sim.client(schema=False) as session, pytest.raises(TransportQueryError):
            session.execute(gql("{ viewer { id } }"))


class Receiver:
    """A webhook endpoint answering 500 to its first `fail` deliveries."""

    def __init__(self, fail: int = 0) -> None:
        self.fail, self.got = fail, []  # type: ignore[var-annotated]
        self.server = SimServer(Starlette(routes=[Route("/hook", self.hook, methods=["POST"])]))

    async def hook(self, request: Request) -> Response:
        self.got.append((await request.body(), dict(request.headers)))
        if self.fail > 0:
            self.fail -= 1
            return Response(status_code=500)
        return Response(status_code=200)


def test_changes_send_signed_webhooks_that_are_retried_re_stamped() -> None:
    receiver = Receiver(fail=1)
    with receiver.server:
        state = LinearState()
        with Sim(state, webhook_url=f"{receiver.server.url}/hook", webhook_secret="whsec",
                 retry_scale=1e-4) as sim:
            issue = state.create_issue({"teamId": state.team["id"], "title": "Hello"}, state.intake_user()["id"])
            state.create_comment({"issueId": issue["id"], "body": "More"}, state.intake_user()["id"])
            state.update_issue(issue["id"], {"priority": 2}, state.viewer["id"])
            assert sim.app.state.delivery.drain(30)
    bodies = [(json.loads(b), h) for b, h in receiver.got]
    for raw, headers in receiver.got:
        assert headers["linear-signature"] == hmac.new(b"whsec", raw, hashlib.sha256).hexdigest()
    first, retry = bodies[0], next(b for b in bodies[1:] if b[1]["linear-delivery"] == bodies[0][1]["linear-delivery"])
    assert first[0]["webhookTimestamp"] <= retry[0]["webhookTimestamp"] and first[0]["data"] == retry[0]["data"]
    kinds = sorted({(b["type"], b["action"]) for b, _h in bodies})
    assert kinds == [("Comment", "create"), ("Issue", "create"), ("Issue", "update")]
    update = next(b for b, _h in bodies if b["action"] == "update")
    assert update["updatedFrom"]["priority"] == 0.0 and update["data"]["priority"] == 2.0
    assert {h["linear-event"] for _b, h in bodies} == {"Issue", "Comment"}
