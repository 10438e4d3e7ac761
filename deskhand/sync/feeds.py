"""Change feeds: what a provider's definition says about reading its tickets changed since a point.

- ``cursor`` (Zendesk's cursor-based incremental export): the first request carries ``start_time``,
  every next one the stored cursor; the stream ends with ``end_of_stream``. The checkpoint is the
  cursor after the last committed page: resuming never re-reads more than one page and never skips.
- ``updated`` (Jira): a query on the updated time, ordered by it, restarted after every page from the
  newest committed time minus an overlap window (JQL has minute granularity; a record updated during
  the sync moves to the end instead of shifting pages under us). Records read twice are skipped by
  the replica (same id and same updated time).

A page is ``(records, checkpoint after it, done)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from deskhand.errors import PayloadError
from deskhand.providers.connector import Connector, build_paginator, response_json
from deskhand.providers.definition import FeedSpec
from deskhand.providers.fields import get_path
from deskhand.providers.pages import items_at
from deskhand.providers.records import to_datetime


@dataclass(frozen=True, slots=True)
class Page:
    records: list[Any]
    checkpoint: dict[str, Any]
    done: bool


def pages(connector: Connector, spec: FeedSpec, checkpoint: dict[str, Any] | None, *,
          start_time: float = 0.0) -> Iterator[Page]:
    if spec.type == "cursor":
        return _cursor_pages(connector, spec, checkpoint, start_time)
    return _updated_pages(connector, spec, checkpoint, start_time)


def _items(connector: Connector, spec: FeedSpec, body: Any) -> list[Any]:
    return items_at(body, spec.call.items, f"{connector.provider} {spec.call.method} {spec.call.path}")


def _cursor_pages(connector: Connector, spec: FeedSpec, checkpoint: dict[str, Any] | None,
                  start_time: float) -> Iterator[Page]:
    cursor = (checkpoint or {}).get("cursor")
    while True:
        args = {"cursor": cursor} if cursor else {"start_time": int(start_time)}
        body = connector.call(spec.call, args)
        items = _items(connector, spec, body)
        after = get_path(body, spec.cursor) if spec.cursor else None
        done = bool(get_path(body, spec.end)) if spec.end else not items
        if after:
            cursor = str(after)
        yield Page(items, {"cursor": cursor} if cursor else dict(checkpoint or {}), done)
        if done or not after:
            return


def updated_time(record: Any, spec: FeedSpec) -> float | None:
    when = to_datetime(get_path(record, spec.updated)) if spec.updated else None
    return when.timestamp() if when else None


def _updated_pages(connector: Connector, spec: FeedSpec, checkpoint: dict[str, Any] | None,
                   start_time: float) -> Iterator[Page]:
    if not spec.query or not spec.updated:
        raise PayloadError(f"{connector.provider}: an `updated` feed needs `query` and `updated`")
    since = float((checkpoint or {}).get("since", start_time))
    paging = connector.definition.paginate if spec.call.paginate is None else spec.call.paginate
    while True:
        start = datetime.fromtimestamp(max(0.0, since - spec.overlap_s), UTC)
        values = {k: v for k, v in connector.values.items() if isinstance(v, str | int)}
        args = {"query": spec.query.format_map({**values, "since": start.strftime(spec.since_format)})}
        progressed = False
        url: str | None = None
        extra: dict[str, Any] = {}
        paginator = build_paginator(paging) if paging else None
        while True:  # pages of one query: only until one of them gets past the watermark
            body = _send(connector, spec, args, url, extra)
            items = _items(connector, spec, body)
            times = [t for t in (updated_time(r, spec) for r in items) if t is not None]
            newest = max(times, default=since)
            progressed = newest > since
            since = max(since, newest)
            step = paginator.next(body, {}, extra, len(items)) if paginator else None
            last = step is None
            yield Page(items, {"since": since}, last and not progressed)
            if progressed or last:
                break
            url = step.url if step else None
            extra = {**extra, **(step.params if step else {}), **({"json": step.json} if step and step.json else {})}
        if not progressed:
            return


def _send(connector: Connector, spec: FeedSpec, args: dict[str, Any], url: str | None,
          extra: dict[str, Any]) -> Any:
    """One request of the feed's call; `extra` carries a paginator's next params/JSON fields."""
    if not extra and url is None:
        return connector.call(spec.call, args)
    from deskhand.providers.fields import fill, set_path

    context = {**connector.values, **args}
    params = {**(fill(spec.call.params, context) or {}), **{k: v for k, v in extra.items() if k != "json"}}
    body = fill(spec.call.json_body, context)
    for dotted, value in (extra.get("json") or {}).items():
        set_path(body, dotted, value)
    response = connector.send(spec.call, args, url=url, params=params or None, json=body)
    return response_json(response)
