"""Change feeds: what a provider's definition says about reading its tickets changed since a point.

- ``cursor`` (Zendesk's cursor-based incremental export): the first request carries ``start_time``,
  every next one the stored cursor; the stream ends with ``end_of_stream``. The checkpoint is the
  cursor after the last committed page: resuming never re-reads more than one page and never skips.
- ``updated`` (Jira, Freshdesk): a query on the updated time, ordered by it, restarted after every
  page from the newest committed time minus an overlap window (JQL has minute granularity; a record
  updated during the sync moves to the end instead of shifting pages under us). The call gets the
  arguments ``since`` (formatted by ``since_format``) and, with a ``query`` template, ``query``; its
  pages are followed through the definition's paginator (a ``Link`` header too) until one of them
  gets past the watermark. Records read twice are skipped by the replica (same id and updated time).

Both read through ``Connector.pages`` (the one paging loop). A page is ``(records, checkpoint after
it, done)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from deskhand.errors import ConfigError
from deskhand.providers.connector import Connector
from deskhand.providers.definition import FeedSpec
from deskhand.providers.fields import fill, get_path
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


def _cursor_pages(connector: Connector, spec: FeedSpec, checkpoint: dict[str, Any] | None,
                  start_time: float) -> Iterator[Page]:
    cursor = (checkpoint or {}).get("cursor")
    while True:
        args = {"cursor": cursor} if cursor else {"start_time": int(start_time)}
        page = next(connector.pages(spec.call, args, follow=False))  # the cursor is the feed's paging
        after = get_path(page.body, spec.cursor) if spec.cursor else None
        done = bool(get_path(page.body, spec.end)) if spec.end else not page.records
        if after:
            cursor = str(after)
        yield Page(page.records, {"cursor": cursor} if cursor else dict(checkpoint or {}), done)
        if done or not after:
            return


def updated_time(record: Any, spec: FeedSpec) -> float | None:
    when = to_datetime(get_path(record, spec.updated)) if spec.updated else None
    return when.timestamp() if when else None


def _since_args(connector: Connector, spec: FeedSpec, since: float) -> dict[str, Any]:
    """The feed call's arguments: `since` (formatted) and, with a `query` template, `query`."""
    start = datetime.fromtimestamp(max(0.0, since - spec.overlap_s), UTC).strftime(spec.since_format)
    if not spec.query:
        return {"since": start}
    try:
        return {"since": start, "query": fill(spec.query, {**connector.values, "since": start})}
    except KeyError as exc:
        raise ConfigError(f"{connector.provider}: sync.feed.query needs {exc.args[0]}") from exc


def _updated_pages(connector: Connector, spec: FeedSpec, checkpoint: dict[str, Any] | None,
                   start_time: float) -> Iterator[Page]:
    if not spec.updated:
        raise ConfigError(f"{connector.provider}: an `updated` feed needs `updated` (the record's updated time)")
    since = float((checkpoint or {}).get("since", start_time))
    while True:
        progressed = False
        for page in connector.pages(spec.call, _since_args(connector, spec, since)):
            # pages of one query: only until one of them gets past the watermark
            times = [t for t in (updated_time(r, spec) for r in page.records) if t is not None]
            newest = max(times, default=since)
            progressed = newest > since
            since = max(since, newest)
            yield Page(page.records, {"since": since}, page.next is None and not progressed)
            if progressed:
                break
        if not progressed:
            return
