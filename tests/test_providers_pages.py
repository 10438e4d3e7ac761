"""deskhand.providers.pages: a page's records, or a clear error — never an empty page by mistake."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from deskhand.errors import BadResponse, ProviderError
from deskhand.providers.pages import item_at, items_at, walk
from deskhand.providers.paginate import NextUrlPaginator, TokenPaginator


@pytest.mark.parametrize(
    ("body", "path", "expected"),
    [
        ({"tickets": []}, "tickets", []),
        ({"tickets": [{"id": 1}]}, "tickets", [{"id": 1}]),
        ({"data": {"issues": {"nodes": [1, 2]}}}, "data.issues.nodes", [1, 2]),
        ([{"id": 1}], None, [{"id": 1}]),
        ([], "", []),
    ],
    ids=["empty-list-is-an-empty-page", "records", "nested-path", "whole-body-list", "whole-body-empty"],
)
def test_a_list_at_the_items_path_is_the_page(body: Any, path: str | None, expected: list[Any]) -> None:
    assert items_at(body, path, "zd GET /tickets") == expected


@pytest.mark.parametrize(
    ("body", "path", "says"),
    [
        ({"error": "maintenance"}, "tickets", "no list at 'tickets'"),
        ({"data": None, "errors": [{"message": "boom"}]}, "data.issues.nodes", "no list at 'data.issues.nodes'"),
        ({"tickets": None}, "tickets", "no list at 'tickets'"),
        ({"tickets": {"id": 1}}, "tickets", "expected a list at 'tickets', got dict"),
        (None, "tickets", "no list at 'tickets'"),
        ("<html>down</html>", "tickets", "no list at 'tickets'"),
        ({"users": []}, None, "expected a list as the body, got dict"),
    ],
    ids=["error-body", "graphql-errors", "null-items", "object-not-list", "no-body", "text-body", "object-body"],
)
def test_anything_else_is_a_retryable_bad_response(body: Any, path: str | None, says: str) -> None:
    with pytest.raises(BadResponse) as caught:
        items_at(body, path, "zd GET /tickets", status=200)
    assert says in str(caught.value) and "zd GET /tickets" in str(caught.value)
    assert caught.value.retryable and caught.value.status == 200


def scripted(*bodies: Any, headers: dict[str, str] | None = None) -> tuple[Any, list[tuple[Any, ...]]]:
    sent: list[tuple[Any, ...]] = []
    queue = list(bodies)

    def send(url: str | None, params: dict[str, Any], json_body: Any) -> httpx.Response:
        sent.append((url, dict(params), copy.deepcopy(json_body)))
        request = httpx.Request("POST", url or "http://desk.test/api/search")
        return httpx.Response(200, json=queue.pop(0), headers=headers or {}, request=request)

    return send, sent


def test_walk_sets_a_token_in_the_json_body_until_the_last_page() -> None:
    send, sent = scripted({"issues": [1, 2], "nextPageToken": "t2"}, {"issues": [3], "isLast": True})
    paginator = TokenPaginator("nextPageToken", "nextPageToken", is_last="isLast", location="json")
    pages = list(walk(send, paginator, {"maxResults": 2}, {"jql": "x"}, "issues", "jira"))
    assert [p.records for p in pages] == [[1, 2], [3]] and pages[-1].next is None
    assert [s[2] for s in sent] == [{"jql": "x"}, {"jql": "x", "nextPageToken": "t2"}]


def test_walk_refuses_a_page_asked_for_twice() -> None:
    send, _ = scripted({"items": [1], "next": "same"}, {"items": [1], "next": "same"}, {"items": [1], "next": "same"})
    with pytest.raises(ProviderError, match="repeats a page"):
        list(walk(send, TokenPaginator("next", "after"), {}, None, "items", "desk"))


def test_walk_follows_an_absolute_link_header_verbatim() -> None:
    link = '<http://desk.test/api/tickets?page=2>; rel="next"'
    send, sent = scripted([1], [2], headers={"Link": link})
    pages = walk(send, NextUrlPaginator(link_header=True), {"per_page": 1}, None, None, "desk")
    assert next(pages).next is not None and next(pages).records == [2]
    assert sent[1][:2] == ("http://desk.test/api/tickets?page=2", {})


@pytest.mark.parametrize(
    ("body", "path", "says"),
    [
        ({"error": "maintenance"}, "ticket", "no record at 'ticket'"),
        ({"ticket": None}, "ticket", "no record at 'ticket'"),
        ({"ticket": [1]}, "ticket", "expected a record at 'ticket', got list"),
        ("<html/>", None, "expected a record as the body, got str"),
    ],
    ids=["error-body", "null-item", "list-item", "text-body"],
)
def test_a_body_without_its_record_is_a_bad_response(body: Any, path: str | None, says: str) -> None:
    with pytest.raises(BadResponse, match=says):
        item_at(body, path, "zd GET /tickets/1.json")
    assert item_at({"ticket": {"id": 1}}, "ticket", "zd") == {"id": 1}
