"""Paginators: small classes that say what the first request adds and what the next one is.

Every paginator has two methods: ``first()`` → what the first request adds (query parameters, or
JSON fields for a paginator whose token travels in the body: a GraphQL page size variable), and
``next(body, headers, sent, count)`` → the next request (a URL to follow, or parameters / JSON
fields to change) or None when the listing is done. An empty page always ends a listing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from deskhand.providers.fields import get_path

_LINK_NEXT = re.compile(r'<([^>]+)>\s*;[^,]*rel="?next"?', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class NextRequest:
    url: str | None = None  # follow verbatim (absolute link)
    params: dict[str, Any] = field(default_factory=dict)  # merge into the query
    json: dict[str, Any] = field(default_factory=dict)  # dotted path -> value, set in the JSON body


class Paginator(Protocol):
    def first(self) -> NextRequest: ...

    def next(
        self, body: Any, headers: Mapping[str, str], sent: Mapping[str, Any], count: int
    ) -> NextRequest | None: ...


def _size_params(size_param: str | None, size: int | None) -> dict[str, Any]:
    return {size_param: size} if size_param and size else {}


def _flag(body: Any, path: str | None) -> bool | None:
    if not path:
        return None
    value = get_path(body, path)
    return None if value is None else bool(value)


@dataclass(slots=True)
class NextUrlPaginator:
    """Follow an absolute next link from the body (``links.next``) or the ``Link: rel=next`` header."""

    next_url: str | None = None
    has_more: str | None = None
    link_header: bool = False
    size_param: str | None = None
    size: int | None = None

    def first(self) -> NextRequest:
        return NextRequest(params=_size_params(self.size_param, self.size))

    def next(self, body: Any, headers: Mapping[str, str], sent: Mapping[str, Any], count: int) -> NextRequest | None:
        if count == 0 or _flag(body, self.has_more) is False:
            return None
        url = get_path(body, self.next_url) if self.next_url else None
        if not url and self.link_header:
            match = _LINK_NEXT.search(headers.get("link", ""))
            url = match.group(1) if match else None
        return NextRequest(url=str(url)) if url else None


@dataclass(slots=True)
class TokenPaginator:
    """Send back an opaque token from the body (Jira ``nextPageToken``, Relay ``endCursor``)."""

    token: str
    param: str
    is_last: str | None = None
    has_more: str | None = None
    location: str = "params"  # or "json": `param` (and `size_param`) are then dotted paths in the JSON body
    size_param: str | None = None
    size: int | None = None

    def first(self) -> NextRequest:
        size = _size_params(self.size_param, self.size)
        return NextRequest(json=size) if self.location == "json" else NextRequest(params=size)

    def next(self, body: Any, headers: Mapping[str, str], sent: Mapping[str, Any], count: int) -> NextRequest | None:
        if count == 0 or _flag(body, self.is_last) is True or _flag(body, self.has_more) is False:
            return None
        token = get_path(body, self.token)
        if token in (None, ""):
            return None
        if self.location == "json":
            return NextRequest(json={self.param: token})
        return NextRequest(params={self.param: token})


@dataclass(slots=True)
class OffsetPaginator:
    """``startAt``/``maxResults`` (+ optional ``total`` or ``isLast``); a short page ends it."""

    offset_param: str
    size_param: str | None = None
    size: int | None = None
    total: str | None = None
    is_last: str | None = None
    start: int = 0

    def first(self) -> NextRequest:
        return NextRequest(params={self.offset_param: self.start, **_size_params(self.size_param, self.size)})

    def next(self, body: Any, headers: Mapping[str, str], sent: Mapping[str, Any], count: int) -> NextRequest | None:
        if count == 0 or _flag(body, self.is_last) is True:
            return None
        offset = int(sent.get(self.offset_param, self.start)) + count
        total = get_path(body, self.total) if self.total else None
        if total is not None:
            if offset >= int(total):
                return None
        elif self.is_last is None and self.size and count < self.size:
            return None
        return NextRequest(params={self.offset_param: offset})
