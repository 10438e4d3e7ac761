"""deskhand.sync.feeds reads through the connector's one paging loop: first-page parameters, the
call's headers and a `Link: rel=next` header reach the feed like any listing (over loopback HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from deskhand.providers.auth import build_auth
from deskhand.providers.client import ProviderHTTP
from deskhand.providers.connector import Connector, resolve_values
from deskhand.providers.definition import ProviderDefinition
from deskhand.sim.base import SimServer, absolute_url
from deskhand.sync.feeds import pages

BULK = "2026-11-02T10:00:00Z"  # one bulk update: every record has the same updated time


class LinkPagedHelpdesk:
    """Records updated at or after `updated_since`, `per_page` a page, next pages in a Link header."""

    def __init__(self, count: int) -> None:
        self.records = [{"id": i, "subject": f"t{i}", "status": 2, "updated_at": BULK} for i in range(1, count + 1)]
        self.requests: list[Request] = []
        self.server = SimServer(Starlette(routes=[Route("/api/tickets", self.tickets)]))

    async def tickets(self, request: Request) -> JSONResponse:
        self.requests.append(request)
        if request.headers.get("x-feed") != "yes":
            return JSONResponse({"description": "bad request"}, status_code=400)
        size, page = int(request.query_params.get("per_page", 30)), int(request.query_params.get("page", 1))
        since = request.query_params.get("updated_since", "")
        found = [r for r in self.records if r["updated_at"] >= since]
        chunk = found[(page - 1) * size:page * size]
        headers = {}
        if page * size < len(found):
            params = {**request.query_params, "page": page + 1}
            headers["Link"] = f'<{absolute_url(request, "/api/tickets", params)}>; rel="next"'
        return JSONResponse(chunk, headers=headers)


@pytest.fixture
def helpdesk() -> Iterator[LinkPagedHelpdesk]:
    desk = LinkPagedHelpdesk(5)
    desk.server.start()
    yield desk
    desk.server.stop()


def definition(**feed: Any) -> ProviderDefinition:
    return ProviderDefinition.model_validate({
        "name": "linkdesk",
        "root": "http://unused.test",
        "api": "/api",
        "connection": {"base_url": {}, "api_key": {"secret": True}},
        "auth": {"type": "basic", "username": "{api_key}", "password": "X"},
        "paginate": {"type": "next_url", "link_header": True, "size": {"param": "per_page", "value": 2}},
        "resources": {"ticket": {"list": {"call": "GET /tickets", "headers": {"X-Feed": "yes"}},
                                 "fields": {"id": "id", "subject": "subject", "status": {"value": "open"},
                                            "updated_at": "updated_at"}}},
        "sync": {"feed": {"type": "updated", "updated": "updated_at", "since_format": "%Y-%m-%dT%H:%M:%SZ",
                          "overlap_s": 0, **feed,
                          "call": {"call": "GET /tickets", "headers": {"X-Feed": "yes"},
                                   "params": {"updated_since": "{since}", "order_by": "updated_at"}}}},
    })


def connector(desk: LinkPagedHelpdesk, spec: ProviderDefinition) -> Connector:
    values = resolve_values(spec, "acme", {"base_url": desk.server.url, "api_key": "k"})
    return Connector(spec, "acme", values, ProviderHTTP(values["root"] + spec.api, build_auth(spec.auth, values)))


def test_a_link_header_feed_reads_every_page_with_its_first_page_params_and_headers(
    helpdesk: LinkPagedHelpdesk,
) -> None:
    spec = definition()
    assert spec.sync is not None
    with connector(helpdesk, spec) as conn:
        read = list(pages(conn, spec.sync.feed, None))
    ids = [r["id"] for page in read for r in page.records]
    assert set(ids) == {1, 2, 3, 4, 5}
    assert read[-1].done and not any(p.done for p in read[:-1])
    first = helpdesk.requests[0].query_params
    assert (first["per_page"], first["updated_since"], first["order_by"]) == ("2", "1970-01-01T00:00:00Z",
                                                                               "updated_at")
    assert all(r.headers.get("x-feed") == "yes" for r in helpdesk.requests)
    assert [r.query_params.get("page") for r in helpdesk.requests][-3:] == [None, "2", "3"]


def test_a_feed_checkpoint_resumes_after_the_newest_record_it_read(helpdesk: LinkPagedHelpdesk) -> None:
    spec = definition()
    assert spec.sync is not None
    with connector(helpdesk, spec) as conn:
        read = list(pages(conn, spec.sync.feed, {"since": 1_800_000_000.0}))  # after the bulk update
    since = [r.query_params["updated_since"] for r in helpdesk.requests]
    assert since == ["2027-01-15T08:00:00Z"] * len(helpdesk.requests)
    assert read[-1].done and read[-1].checkpoint == {"since": 1_800_000_000.0}


def test_listing_through_the_connector_reads_every_link_page(helpdesk: LinkPagedHelpdesk) -> None:
    spec = definition()
    with connector(helpdesk, spec) as conn:
        tickets = list(conn.iter_tickets())
    assert [t.id for t in tickets] == ["1", "2", "3", "4", "5"]
