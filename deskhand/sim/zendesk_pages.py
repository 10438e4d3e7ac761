"""Zendesk pagination shapes: cursor (``page[size]``/``page[after]``/``page[before]``), offset
(``page``/``per_page``), and the incremental ticket exports (cursor- and time-based).

Every ``next``/``prev``/``after_url`` is an absolute URL back to the simulator (zenpy follows them
verbatim), keeping the path as the client spelled it (with or without ``.json``) and its other
query parameters.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from deskhand.sim.base import absolute_url
from deskhand.sim.zendesk_state import ZendeskError

MAX_PAGE_SIZE = 100
MAX_OFFSET_RECORDS = 10_000
MAX_EXPORT_PAGE = 1000
PAGE_KEYS = ("page", "per_page", "page[size]", "page[after]", "page[before]", "cursor", "start_time")

Render = Callable[[dict[str, Any]], dict[str, Any]]


def link(request: Request, params: dict[str, Any] | None = None) -> str:
    """Absolute URL of this endpoint with its non-paging query params plus ``params``."""
    kept = {k: v for k, v in request.query_params.items() if k not in PAGE_KEYS}
    path = request.scope.get("zendesk.path", request.url.path)
    return absolute_url(request, path, {**kept, **(params or {})})


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError as exc:
        raise ZendeskError(400, {"error": "InvalidPaginationParameter",
                                 "description": "cursor is not valid"}) from exc


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    try:
        return default if raw in (None, "") else int(raw)
    except ValueError as exc:
        raise ZendeskError(400, {"error": "InvalidPaginationParameter",
                                 "description": f"{name} must be an integer"}) from exc


def paginate(request: Request, key: str, items: list[dict[str, Any]], render: Render) -> dict[str, Any]:
    """One page of ``items`` (already in id order) under ``key``, cursor or offset per the request."""
    q = request.query_params
    if any(k in q for k in ("page[size]", "page[after]", "page[before]")):
        return _cursor_page(request, key, items, render)
    return _offset_page(request, key, items, render)


def _cursor_page(request: Request, key: str, items: list[dict[str, Any]], render: Render) -> dict[str, Any]:
    size = max(1, min(MAX_PAGE_SIZE, _int_param(request, "page[size]", MAX_PAGE_SIZE)))
    after, before = request.query_params.get("page[after]"), request.query_params.get("page[before]")
    if before:
        pivot = decode_cursor(before)
        earlier = [i for i in items if i["id"] < pivot]
        page, has_more = earlier[-size:], len(earlier) > size
    else:
        pivot = decode_cursor(after) if after else None
        later = [i for i in items if pivot is None or i["id"] > pivot]
        page, has_more = later[:size], len(later) > size
    after_cursor = encode_cursor(page[-1]["id"]) if page else None
    before_cursor = encode_cursor(page[0]["id"]) if page else None
    return {
        key: [render(i) for i in page],
        "meta": {"has_more": has_more, "after_cursor": after_cursor, "before_cursor": before_cursor},
        "links": {
            "prev": link(request, {"page[size]": size, "page[before]": before_cursor}) if before_cursor else None,
            "next": link(request, {"page[size]": size, "page[after]": after_cursor}) if after_cursor else None,
        },
    }


def _offset_page(request: Request, key: str, items: list[dict[str, Any]], render: Render) -> dict[str, Any]:
    page = max(1, _int_param(request, "page", 1))
    per_page = max(1, min(MAX_PAGE_SIZE, _int_param(request, "per_page", MAX_PAGE_SIZE)))
    start = (page - 1) * per_page
    if start >= MAX_OFFSET_RECORDS:
        raise ZendeskError(400, {
            "error": "invalid_pagination",
            "description": "Offset pagination is limited to the first 10,000 records; "
                           "use cursor pagination (page[size]) instead"})
    chunk = items[start:start + per_page]
    more = start + per_page < len(items)
    return {
        key: [render(i) for i in chunk],
        "next_page": link(request, {"page": page + 1, "per_page": per_page}) if more else None,
        "previous_page": link(request, {"page": page - 1, "per_page": per_page}) if page > 1 else None,
        "count": len(items),
    }


def _export_window(request: Request, now: float, lag_s: float) -> tuple[int, bool, float]:
    per_page = max(1, min(MAX_EXPORT_PAGE, _int_param(request, "per_page", MAX_EXPORT_PAGE)))
    exclude_deleted = request.query_params.get("exclude_deleted") == "true"
    return per_page, exclude_deleted, now - lag_s


def _start_time(request: Request, now: float) -> int:
    if "start_time" not in request.query_params:
        raise ZendeskError(400, {"error": "InvalidValue", "description": "start_time is required"})
    start = _int_param(request, "start_time", 0)
    if start > now:
        raise ZendeskError(400, {"error": "InvalidValue",
                                 "description": "Too recent start_time. Use a start_time older than 1 minute"})
    return start


def export_cursor(request: Request, changed: list[dict[str, Any]], render: Render, *,
                  now: float, lag_s: float) -> dict[str, Any]:
    """GET /incremental/tickets/cursor: ``changed`` ordered by ``(_updated, id)``."""
    per_page, exclude_deleted, horizon = _export_window(request, now, lag_s)
    raw = request.query_params.get("cursor")
    position = tuple(decode_cursor(raw)) if raw else (float(_start_time(request, now)), -1)
    rows = [t for t in changed if (t["_updated"], t["id"]) > position and t["_updated"] <= horizon
            and not (exclude_deleted and t["status"] == "deleted")]
    page = rows[:per_page]
    after = encode_cursor([page[-1]["_updated"], page[-1]["id"]]) if page else encode_cursor(list(position))
    before = encode_cursor([page[0]["_updated"], page[0]["id"] - 1]) if page else None
    per = {"per_page": per_page} if "per_page" in request.query_params else {}
    return {
        "tickets": [render(t) for t in page],
        "after_url": link(request, {"cursor": after, **per}),
        "after_cursor": after,
        "before_url": link(request, {"cursor": before, **per}) if before else None,
        "before_cursor": before,
        "end_of_stream": len(rows) <= per_page,
    }


def export_time(request: Request, changed: list[dict[str, Any]], render: Render, *,
                now: float, lag_s: float) -> dict[str, Any]:
    """GET /incremental/tickets (time-based): ``next_page`` restarts at ``end_time``."""
    per_page, exclude_deleted, horizon = _export_window(request, now, lag_s)
    start = _start_time(request, now)
    rows = [t for t in changed if start <= t["_updated"] <= horizon
            and not (exclude_deleted and t["status"] == "deleted")]
    page = rows[:per_page]
    end_time = int(page[-1]["_updated"]) if page else start
    return {
        "tickets": [render(t) for t in page],
        "next_page": link(request, {"start_time": end_time}),
        "count": len(page),
        "end_time": end_time,
        "end_of_stream": len(rows) <= per_page,
    }
