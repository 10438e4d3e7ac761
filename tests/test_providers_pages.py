"""deskhand.providers.pages: a page's records, or a clear error — never an empty page by mistake."""

from __future__ import annotations

from typing import Any

import pytest

from deskhand.errors import BadResponse
from deskhand.providers.pages import items_at


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
