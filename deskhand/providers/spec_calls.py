"""Calls of a provider definition: how one HTTP (or GraphQL) request is described, its arguments,
and the sync feed built from calls (the schema is documented in deskhand.providers.definition)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from deskhand.providers.fields import map_key
from deskhand.providers.spec_paging import PagingSpec

_CALL = re.compile(r"^(GET|POST|PUT|PATCH|DELETE)\s+(\S+)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FeedSpec(_Strict):
    """The change feed a sync reads: ``cursor`` (an opaque resume cursor, e.g. Zendesk's incremental
    export) or ``updated`` (a query on the updated time with an overlap window, e.g. Jira JQL). The call
    gets the arguments ``start_time`` (unix) and ``cursor``, or ``since`` (formatted by ``since_format``)
    and ``query`` (the template filled with ``{since}``); an updated feed's pages follow its paginator."""

    type: Literal["cursor", "updated"]
    call: CallSpec
    cursor: str | None = None  # body path of the next cursor (cursor feeds)
    end: str | None = None  # body path, true at the end of the stream (cursor feeds)
    query: str | None = None  # e.g. 'updated >= "{since}" ORDER BY updated ASC' (updated feeds)
    since_format: str = "%Y-%m-%d %H:%M"
    overlap_s: float = Field(120.0, ge=0)
    updated: str | None = None  # record path of its updated time (updated feeds)


class SyncSpec(_Strict):
    """How `deskhand sync` reads this provider into the replica (see deskhand.sync)."""

    feed: FeedSpec
    deleted: dict[str, Any] = Field(default_factory=dict)  # {record path: value} marking a tombstone
    comments: str = "per_ticket"  # or the record path of inline comments
    comments_total: str | None = None  # record path of the inline comments' total (fetch all when more)
    sweep: CallSpec | None = None  # lists every live id (a feed that never shows deletions)


class ArgSpec(_Strict):
    """How one argument is turned into the provider's value before filling the call."""

    map: dict[str, Any] | None = None
    hook: str | None = None
    type: Literal["str", "int", "list"] | None = None
    required: bool = False
    overrides: str | None = None  # a declared map override extending `map` per account (keyed like it)

    @field_validator("map", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        return {map_key(k): v for k, v in value.items()} if isinstance(value, dict) else value


class CallSpec(_Strict):
    method: str = ""
    path: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    json_body: Any = Field(None, alias="json")
    headers: dict[str, str] = Field(default_factory=dict)
    item: str | None = None
    items: str | None = None
    paginate: PagingSpec | Literal[False] | None = None
    args: dict[str, ArgSpec] = Field(default_factory=dict)
    result: dict[str, str] = Field(default_factory=dict)
    refetch: str | None = None
    hook: str | None = None
    graphql: str | None = None  # a named operation of the definition's GraphQL documents
    variables: Any = None  # its variables (a template, filled like json)

    @model_validator(mode="before")
    @classmethod
    def _parse_call(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = {"call": value}
        if isinstance(value, dict) and value.get("graphql"):
            if "call" in value or "json" in value:
                raise ValueError("a `graphql:` call takes `variables:`, not `call:` or `json:`")
            value = {**value, "method": "POST"}  # to the definition's graphql.endpoint
        if isinstance(value, dict) and "call" in value:
            value = dict(value)
            call = str(value.pop("call")).strip()
            match = _CALL.match(call)
            if not match:
                example = "'GET /tickets/{ticket_id}'"
                raise ValueError(f"call must look like 'METHOD /path' (e.g. {example}), got {call!r}")
            value["method"], value["path"] = match.groups()
        if isinstance(value, dict) and not value.get("method") and not value.get("hook"):
            raise ValueError("needs `call: METHOD /path`, `graphql: <Operation>` or `hook: <function>`")
        return value
