"""deskhand.providers.paginate: each paginator's first request and next step."""

from __future__ import annotations

from typing import Any

import pytest

from deskhand.providers.paginate import NextRequest, NextUrlPaginator, OffsetPaginator, TokenPaginator

ZD = NextUrlPaginator(next_url="links.next", has_more="meta.has_more", size_param="page[size]", size=100)


def test_next_url_first_request_sets_page_size() -> None:
    assert ZD.first().params == {"page[size]": 100}


@pytest.mark.parametrize(
    ("body", "count", "expected"),
    [
        (
            {"meta": {"has_more": True}, "links": {"next": "http://h/t?page[after]=x"}},
            2,
            NextRequest(url="http://h/t?page[after]=x"),
        ),
        ({"meta": {"has_more": False}, "links": {"next": "http://h/t?page[after]=x"}}, 2, None),
        ({"meta": {"has_more": True}, "links": {"next": None}}, 2, None),
        ({"meta": {"has_more": True}, "links": {"next": "http://h/t"}}, 0, None),
    ],
    ids=["follows-link", "has-more-false-stops", "no-link-stops", "empty-page-stops"],
)
def test_next_url_paginator(body: dict[str, Any], count: int, expected: NextRequest | None) -> None:
    assert ZD.next(body, {}, {}, count) == expected


def test_next_url_reads_link_header() -> None:
    p = NextUrlPaginator(link_header=True)
    headers = {"link": '<https://h/api?page=1>; rel="prev", <https://h/api?page=3>; rel="next"'}
    assert p.next([{}], headers, {}, 1) == NextRequest(url="https://h/api?page=3")
    assert p.next([{}], {"link": '<https://h/api?page=1>; rel="prev"'}, {}, 1) is None


JIRA = TokenPaginator(token="nextPageToken", param="nextPageToken", is_last="isLast", size_param="maxResults", size=50)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"nextPageToken": "tok2", "isLast": False}, NextRequest(params={"nextPageToken": "tok2"})),
        ({"nextPageToken": "tok2", "isLast": True}, None),
        ({"isLast": False}, None),
    ],
    ids=["passes-token", "is-last-stops", "no-token-stops"],
)
def test_token_paginator(body: dict[str, Any], expected: NextRequest | None) -> None:
    assert JIRA.first().params == {"maxResults": 50}
    assert JIRA.next(body, {}, {}, 3) == expected


def test_token_paginator_can_set_a_json_variable() -> None:
    relay = TokenPaginator(
        token="data.issues.pageInfo.endCursor",
        param="variables.after",
        has_more="data.issues.pageInfo.hasNextPage",
        location="json",
    )
    body = {"data": {"issues": {"pageInfo": {"hasNextPage": True, "endCursor": "c2"}}}}
    assert relay.next(body, {}, {}, 1) == NextRequest(json={"variables.after": "c2"})
    body["data"]["issues"]["pageInfo"]["hasNextPage"] = False
    assert relay.next(body, {}, {}, 1) is None


@pytest.mark.parametrize(
    ("paginator", "body", "sent", "count", "expected"),
    [
        (
            OffsetPaginator("startAt", "maxResults", 2, total="total"),
            {"total": 5},
            {"startAt": 0},
            2,
            NextRequest(params={"startAt": 2}),
        ),
        (OffsetPaginator("startAt", "maxResults", 2, total="total"), {"total": 4}, {"startAt": 2}, 2, None),
        (OffsetPaginator("startAt", "maxResults", 2), [{}], {"startAt": 4}, 1, None),
        (OffsetPaginator("startAt", "maxResults", 2), [{}, {}], {"startAt": 4}, 2, NextRequest(params={"startAt": 6})),
        (OffsetPaginator("startAt", "maxResults", 2, is_last="isLast"), {"isLast": True}, {"startAt": 0}, 2, None),
    ],
    ids=["total-not-reached", "total-reached", "short-page-stops", "full-page-continues", "is-last"],
)
def test_offset_paginator(
    paginator: OffsetPaginator, body: Any, sent: dict[str, Any], count: int, expected: NextRequest | None
) -> None:
    assert paginator.next(body, {}, sent, count) == expected


def test_offset_first_request_starts_at_start() -> None:
    assert OffsetPaginator("startAt", "maxResults", 50).first().params == {"startAt": 0, "maxResults": 50}
