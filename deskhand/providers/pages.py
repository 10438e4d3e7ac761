"""Listings: the one paging loop (:func:`walk`), and the one place a page's records are taken out
of a response body (:func:`items_at`). ``Connector.pages`` / ``iter_records`` and the sync feeds
all read listings through it.

An empty list at the items path is a legitimate empty page. A body without the path, with
something else than a list there, or no body at all is a :class:`BadResponse`, never an empty
page: reading it as one would end the listing early, and a full sync would then tombstone every
record it did not see.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from deskhand.errors import BadResponse, ProviderError
from deskhand.providers.fields import MISSING, get_path, set_path
from deskhand.providers.paginate import NextRequest, Paginator


def _short(body: Any) -> str:
    text = str(body)
    return text if len(text) <= 200 else text[:200] + "…"


def items_at(body: Any, path: str | None, where: str, *, status: int | None = None) -> list[Any]:
    """The list at `path` in `body` (the whole body when `path` is empty); BadResponse otherwise."""
    found = get_path(body, path, MISSING)
    if isinstance(found, list):
        return found
    at = f"at {path!r}" if path else "as the body"
    if found is MISSING:
        problem = f"no list {at} (the body has no such path)"
    else:
        problem = f"expected a list {at}, got {type(found).__name__}"
    raise BadResponse(
        f"{where}: {problem}: {_short(body)}; nothing was read as an empty page — retry later",
        status=status,
        body=body,
    )


def item_at(body: Any, path: str | None, where: str) -> dict[str, Any]:
    """The one record at `path` in `body` (the whole body when `path` is empty); BadResponse otherwise
    (a 200 maintenance page where a ticket was expected is not a ticket without fields)."""
    found = get_path(body, path, MISSING)
    if isinstance(found, dict):
        return found
    at = f"at {path!r}" if path else "as the body"
    problem = "no record " + at if found is MISSING else f"expected a record {at}, got {type(found).__name__}"
    raise BadResponse(f"{where}: {problem}: {_short(body)}; retry later", body=body)


def response_json(response: httpx.Response) -> Any:
    """The JSON body of a 2xx answer (None when empty); BadResponse for anything else (an HTML page)."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        where = f"{response.request.method} {response.request.url}"
        kind = response.headers.get("content-type", "no content type")
        raise BadResponse(
            f"{where}: HTTP {response.status_code} answered {kind}, not JSON: {response.text[:200]!r}",
            status=response.status_code,
            body=response.text[:500],
        ) from exc


@dataclass(frozen=True, slots=True)
class ListingPage:
    """One page of a listing: its records, the body and headers they came in, and the next request
    (None: this was the last page)."""

    records: list[Any]
    body: Any
    headers: Mapping[str, str]
    next: NextRequest | None


Send = Callable[[str | None, dict[str, Any], Any], httpx.Response]  # (url to follow, params, JSON) -> response


def walk(
    send: Send, paginator: Paginator | None, params: dict[str, Any], json_body: Any, items: str | None, where: str
) -> Iterator[ListingPage]:
    """The one paging loop: send, take the records (:func:`items_at`), ask the paginator for the next
    request (body and headers: a ``Link`` header works), until it says the listing is done. A request
    sent twice means the helpdesk repeats a page: an error, not an endless loop."""
    url: str | None = None
    seen: set[str] = set()
    while True:
        key = f"{url}|{sorted(params.items())}|{json_body}"
        if key in seen:
            raise ProviderError(f"{where}: pagination repeats a page ({url or sorted(params.items())}); stopping")
        seen.add(key)
        response = send(url, params, json_body)
        body = response_json(response)
        said = f"{where} {response.request.method} {response.request.url}"
        records = items_at(body, items, said, status=response.status_code)
        step = paginator.next(body, response.headers, params, len(records)) if paginator else None
        yield ListingPage(records, body, response.headers, step)
        if step is None:
            return
        if step.url:
            url, params = step.url, {}
            continue
        params = {**params, **step.params}
        if step.json:
            json_body = copy.deepcopy(json_body) if isinstance(json_body, dict) else {}
            for dotted, value in step.json.items():
                set_path(json_body, dotted, value)
