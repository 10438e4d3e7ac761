"""GraphQL as an engine call form, against a small GraphQL server (graphql-core) over loopback:
named operations from a document beside the definition, variables from arguments, Relay paging,
errors from `errors[]` through the definition's rules (Linear-style 400 RATELIMITED retried)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from graphql import GraphQLError, build_schema, graphql_sync
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from deskhand.errors import BadResponse, ConfigError, ProviderError, ResourceNotFound
from deskhand.model import Action, ActionKind, Status
from deskhand.providers.auth import build_auth
from deskhand.providers.client import ProviderHTTP
from deskhand.providers.connector import Connector, resolve_values
from deskhand.providers.definition import ProviderDefinition, read_definition
from deskhand.providers.error_rules import body_reader
from deskhand.sim.base import SimServer

SCHEMA = build_schema("""
type Query {
  issues(first: Int, after: String, state: String, updatedAfter: String): IssueConnection!
  issue(id: ID!): Issue
  viewer: User!
}
type Mutation { commentCreate(input: CommentCreateInput!): CommentPayload! }
input CommentCreateInput { issueId: ID!, body: String! }
type CommentPayload { success: Boolean!, comment: Comment }
type Comment { id: ID!, body: String! }
type User { id: ID!, name: String!, email: String }
type State { name: String! }
type Issue { id: ID!, title: String!, state: State!, updatedAt: String!, createdAt: String! }
type PageInfo { hasNextPage: Boolean!, endCursor: String }
type IssueConnection { nodes: [Issue!]!, pageInfo: PageInfo! }
""")

DOCUMENT = """
fragment IssueFields on Issue { id title state { name } updatedAt createdAt }
query Issues($first: Int, $after: String, $state: String, $updatedAfter: String) {
  issues(first: $first, after: $after, state: $state, updatedAfter: $updatedAfter) {
    nodes { ...IssueFields } pageInfo { hasNextPage endCursor }
  }
}
query Issue($id: ID!) { issue(id: $id) { ...IssueFields } }
query Viewer { viewer { id name email } }
mutation CommentCreate($input: CommentCreateInput!) { commentCreate(input: $input) { success comment { id body } } }
"""

DEFINITION: dict[str, Any] = {
    "name": "gqldesk",
    "root": "http://unused.test",
    "connection": {"base_url": {}, "api_key": {"secret": True}},
    "auth": {"type": "header", "header": "Authorization", "value": "{api_key}"},
    "errors": {"path": "errors", "code": "extensions.code", "message": "message",
               "map": {"RATELIMITED": "rate_limited", "AUTHENTICATION_ERROR": "auth", "ENTITY_NOT_FOUND": "not_found"}},
    "resources": {
        "ticket": {
            "get": {"graphql": "Issue", "variables": {"id": "{ticket_id}"}, "item": "data.issue"},
            "list": {"graphql": "Issues", "variables": {"state": "{state}"}, "items": "data.issues.nodes",
                     "paginate": {"type": "relay", "connection": "data.issues",
                                  "size": {"param": "first", "value": 2}}},
            "fields": {"id": "id", "subject": "title", "status": {"path": "state.name", "map": {"Todo": "open",
                                                                                               "Done": "solved"}},
                       "created_at": "createdAt", "updated_at": "updatedAt"},
        },
        "user": {"me": {"graphql": "Viewer", "item": "data.viewer"}, "fields": {"id": "id", "name": "name"}},
    },
    "actions": {"reply": {"graphql": "CommentCreate", "args": {"body": {"required": True}},
                          "variables": {"input": {"issueId": "{ticket_id}", "body": "{body}"}},
                          "result": {"comment_id": "data.commentCreate.comment.id"}}},
}


class GraphQLDesk:
    """Five issues behind a Relay connection; `throttle` answers that many requests with Linear's 400."""

    def __init__(self) -> None:
        self.issues = [{"id": str(i), "title": f"Issue {i}", "state": {"name": "Todo" if i % 2 else "Done"},
                        "createdAt": "2026-11-01T10:00:00.000Z", "updatedAt": f"2026-11-0{i}T10:00:00.000Z"}
                       for i in range(1, 6)]
        self.comments: list[dict[str, str]] = []
        self.bodies: list[dict[str, Any]] = []
        self.throttle = 0
        self.bad_gateway = 0  # answer that many requests with a proxy's 502
        self.fail_with: dict[str, Any] | None = None
        self.server = SimServer(Starlette(routes=[Route("/graphql", self.endpoint, methods=["POST"])]))

    def _issues(self, info: Any, first: int = 50, after: str | None = None, state: str | None = None,
                updatedAfter: str | None = None) -> Any:  # the schema's argument name
        found = [i for i in self.issues if (state is None or i["state"]["name"] == state)
                 and (updatedAfter is None or i["updatedAt"] >= updatedAfter)]
        start = int(after) if after else 0
        page = found[start:start + first]
        more = start + first < len(found)
        return {"nodes": page, "pageInfo": {"hasNextPage": more, "endCursor": str(start + first) if page else None}}

    def _issue(self, info: Any, id: str) -> Any:
        for issue in self.issues:
            if issue["id"] == id:
                return issue
        raise GraphQLError("Entity not found: Issue", extensions={"code": "ENTITY_NOT_FOUND"})

    def _comment(self, info: Any, input: dict[str, str]) -> Any:
        self._issue(info, input["issueId"])
        comment = {"id": f"c{len(self.comments) + 1}", "body": input["body"]}
        self.comments.append(comment)
        return {"success": True, "comment": comment}

    async def endpoint(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.bodies.append(body)
        if request.headers.get("authorization") != "lin_key":
            return JSONResponse({"errors": [{"message": "Authentication required",
                                             "extensions": {"code": "AUTHENTICATION_ERROR"}}]}, status_code=400)
        if self.bad_gateway > 0:
            self.bad_gateway -= 1
            return JSONResponse({"message": "bad gateway"}, status_code=502)
        if self.throttle > 0:
            self.throttle -= 1
            return JSONResponse({"errors": [{"message": "Rate limit exceeded",
                                             "extensions": {"code": "RATELIMITED"}}]}, status_code=400)
        if self.fail_with is not None:
            return JSONResponse(self.fail_with)
        root = {"issues": self._issues, "issue": self._issue, "viewer": {"id": "u1", "name": "Bot"},
                "commentCreate": self._comment}
        result = graphql_sync(SCHEMA, body["query"], root_value=root, variable_values=body.get("variables"),
                              operation_name=body.get("operationName"))
        answer: dict[str, Any] = {"data": result.data}
        if result.errors:
            answer["errors"] = [e.formatted for e in result.errors]
        return JSONResponse(answer)


@pytest.fixture
def desk() -> Iterator[GraphQLDesk]:
    server = GraphQLDesk()
    server.server.start()
    yield server
    server.server.stop()


def write(tmp_path: Path, data: dict[str, Any], document: str | None = DOCUMENT, name: str = "gqldesk") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    if document is not None:
        (tmp_path / f"{name}.graphql").write_text(document, encoding="utf-8")
    return path


def connect(desk: GraphQLDesk, definition: ProviderDefinition, sleeps: list[float], key: str = "lin_key") -> Connector:
    values = resolve_values(definition, "acme", {"base_url": desk.server.url, "api_key": key})
    http = ProviderHTTP(values["root"], build_auth(definition.auth, values), sleep=sleeps.append,
                        errors=body_reader(definition.error_rules()))
    return Connector(definition, "acme", values, http)


@pytest.fixture
def conn(desk: GraphQLDesk, tmp_path: Path) -> Iterator[Connector]:
    with connect(desk, read_definition(write(tmp_path, DEFINITION)), []) as c:
        yield c


def test_a_relay_listing_reads_every_page_sending_only_its_operation(desk: GraphQLDesk, conn: Connector) -> None:
    tickets = list(conn.iter_tickets())
    assert [t.id for t in tickets] == ["1", "2", "3", "4", "5"]
    assert [t.status for t in tickets][:2] == [Status.OPEN, Status.SOLVED]
    assert [b["variables"] for b in desk.bodies] == [{"first": 2}, {"first": 2, "after": "2"},
                                                     {"first": 2, "after": "4"}]
    first = desk.bodies[0]
    assert first["operationName"] == "Issues" and "fragment IssueFields" in first["query"]
    assert "CommentCreate" not in first["query"] and "Viewer" not in first["query"]


def test_variables_are_filled_from_arguments_and_missing_ones_are_dropped(desk: GraphQLDesk, conn: Connector) -> None:
    spec = conn.definition.resources["ticket"].list
    assert spec is not None
    done = list(conn.iter_records(spec, {"state": "Done"}))
    assert [r["id"] for r in done] == ["2", "4"] and desk.bodies[0]["variables"] == {"state": "Done", "first": 2}


def test_get_and_me_read_the_item_under_data(conn: Connector) -> None:
    ticket = conn.get_ticket("3", with_comments=False)
    assert (ticket.id, ticket.subject, ticket.status) == ("3", "Issue 3", Status.OPEN)
    assert conn.current_user().name == "Bot"


def test_an_action_runs_its_mutation_and_reads_the_result(desk: GraphQLDesk, conn: Connector) -> None:
    summary = conn.perform(Action(kind=ActionKind.REPLY, ticket_id="4", key="k1", params={"body": "Hello"}))
    assert summary["comment_id"] == "c1" and desk.comments == [{"id": "c1", "body": "Hello"}]
    assert desk.bodies[-1]["variables"] == {"input": {"issueId": "4", "body": "Hello"}}


def test_an_error_in_errors_with_a_mapped_code_is_that_error(conn: Connector) -> None:
    with pytest.raises(ResourceNotFound) as caught:
        conn.get_ticket("99", with_comments=False)
    assert caught.value.code == "ENTITY_NOT_FOUND" and "Entity not found" in str(caught.value)


def test_a_400_ratelimited_is_retried_not_a_permanent_failure(desk: GraphQLDesk, tmp_path: Path) -> None:
    sleeps: list[float] = []
    desk.throttle = 2
    with connect(desk, read_definition(write(tmp_path, DEFINITION)), sleeps) as c:
        assert len(list(c.iter_tickets())) == 5
    assert len(sleeps) == 2 and desk.throttle == 0


def test_a_200_with_errors_and_no_data_is_a_retryable_error_not_an_empty_page(
    desk: GraphQLDesk, conn: Connector
) -> None:
    desk.fail_with = {"data": None, "errors": [{"message": "Service unavailable", "extensions": {"code": "INTERNAL"}}]}
    with pytest.raises(BadResponse) as caught:
        list(conn.iter_tickets())
    assert caught.value.retryable and "Service unavailable" in str(caught.value)


def test_without_rules_graphql_errors_are_still_read(desk: GraphQLDesk, tmp_path: Path) -> None:
    definition = read_definition(write(tmp_path, {k: v for k, v in DEFINITION.items() if k != "errors"}))
    assert [r.path for r in definition.error_rules()] == ["errors"]
    desk.fail_with = {"data": {"issues": {"nodes": [], "pageInfo": {"hasNextPage": False}}},
                      "errors": [{"message": "partial failure"}]}
    with connect(desk, definition, []) as c, pytest.raises(BadResponse, match="partial failure"):
        list(c.iter_tickets())


def test_documents_in_the_slug_folder_are_found(tmp_path: Path) -> None:
    (tmp_path / "gqldesk").mkdir()
    (tmp_path / "gqldesk" / "issues.graphql").write_text(DOCUMENT, encoding="utf-8")
    definition = read_definition(write(tmp_path, DEFINITION, document=None))
    assert definition.operation("Issues").kind == "query" and definition.operation("CommentCreate").kind == "mutation"


@pytest.mark.parametrize(
    ("document", "changes", "says"),
    [
        (DOCUMENT.replace("query Viewer", "query Me"), {}, "resources.user.me.graphql: no operation 'Viewer'"),
        ("query Issues { issues( }", {}, "not a valid GraphQL document"),
        ("{ viewer { id } }", {}, "every operation needs a name"),
        (DOCUMENT + "\nquery Issue($id: ID!) { issue(id: $id) { id } }", {}, "operation 'Issue' is defined twice"),
        (DOCUMENT.replace("fragment IssueFields on Issue", "fragment Other on Issue"), {}, "unknown fragment"),
        (None, {}, "graphql: no document"),
        (DOCUMENT, {"resources": {"ticket": {"get": {"graphql": "Issue", "call": "POST /x"}, "fields": {"id": "id"}}}},
         "a `graphql:` call takes `variables:`"),
    ],
    ids=["unknown-operation", "syntax-error", "anonymous-operation", "duplicate-operation", "unknown-fragment",
         "no-document", "graphql-and-call"],
)
def test_broken_graphql_definitions_name_the_problem(tmp_path: Path, document: str | None,
                                                     changes: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        read_definition(write(tmp_path, {**DEFINITION, **changes}, document=document))
    assert says in str(caught.value) and "gqldesk" in str(caught.value)


def test_request_bodies_are_plain_json(desk: GraphQLDesk, conn: Connector) -> None:
    conn.get_ticket("1", with_comments=False)
    assert json.loads(json.dumps(desk.bodies[-1])) == {"query": conn.definition.operation("Issue").text,
                                                       "operationName": "Issue", "variables": {"id": "1"}}


def test_a_graphql_updated_feed_syncs_through_relay_pages(desk: GraphQLDesk, tmp_path: Path) -> None:
    from deskhand.sync.feeds import pages

    feed = {"type": "updated", "updated": "updatedAt", "since_format": "%Y-%m-%dT%H:%M:%S.000Z", "overlap_s": 0,
            "call": {"graphql": "Issues", "variables": {"updatedAfter": "{since}"}, "items": "data.issues.nodes",
                     "paginate": {"type": "relay", "connection": "data.issues",
                                  "size": {"param": "first", "value": 2}}}}
    definition = read_definition(write(tmp_path, {**DEFINITION, "sync": {"feed": feed}}))
    assert definition.sync is not None
    for issue in desk.issues:
        issue["updatedAt"] = "2026-11-05T10:00:00.000Z"  # one bulk update: the feed must follow the pages
    with connect(desk, definition, []) as c:
        read = list(pages(c, definition.sync.feed, None))
    assert sorted({r["id"] for p in read for r in p.records}) == ["1", "2", "3", "4", "5"] and read[-1].done
    assert desk.bodies[0]["variables"] == {"updatedAfter": "1970-01-01T00:00:00.000Z", "first": 2}
    assert desk.bodies[-1]["variables"]["after"] == "4"


def test_a_query_is_sent_again_after_a_502_but_a_mutation_is_not(desk: GraphQLDesk, tmp_path: Path) -> None:
    sleeps: list[float] = []
    with connect(desk, read_definition(write(tmp_path, DEFINITION)), sleeps) as c:
        desk.bad_gateway = 1
        assert c.get_ticket("2", with_comments=False).id == "2" and len(sleeps) == 1
        desk.bad_gateway = 1
        with pytest.raises(ProviderError) as caught:
            c.perform(Action(kind=ActionKind.REPLY, ticket_id="2", key="k", params={"body": "Hi"}))
        assert caught.value.status == 502 and desk.comments == [] and len(sleeps) == 1
