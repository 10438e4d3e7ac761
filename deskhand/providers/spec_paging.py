"""The `paginate:` specs of a provider definition (built into paginators by ``build_paginator``).

::

    {type: next_url, next_url: links.next, has_more: meta.has_more, link_header: bool,
     size: {param: "page[size]", value: 100}}
    {type: token, token: nextPageToken, param: nextPageToken, is_last: isLast, has_more: path,
     in: params|json, size: {...}}         # in: json -> param and size.param are paths in the JSON body
    {type: offset, offset: startAt, total: total, is_last: isLast, size: {param: maxResults, value: 50}}
    {type: relay, connection: data.issues, cursor: after, size: {param: first, value: 50}}
                                           # GraphQL Relay: pageInfo {hasNextPage endCursor} of the
                                           # connection; the cursor and size are operation variables
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from deskhand.providers.paginate import NextUrlPaginator, OffsetPaginator, Paginator, TokenPaginator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SizeSpec(_Strict):
    param: str
    value: int = Field(gt=0)


class NextUrlPaging(_Strict):
    type: Literal["next_url"]
    next_url: str | None = None
    has_more: str | None = None
    link_header: bool = False
    size: SizeSpec | None = None


class TokenPaging(_Strict):
    type: Literal["token"]
    token: str
    param: str
    is_last: str | None = None
    has_more: str | None = None
    location: Literal["params", "json"] = Field("params", alias="in")
    size: SizeSpec | None = None


class OffsetPaging(_Strict):
    type: Literal["offset"]
    offset: str
    total: str | None = None
    is_last: str | None = None
    start: int = 0
    size: SizeSpec | None = None


class RelayPaging(_Strict):
    """GraphQL Relay paging: a token paginator whose token is the connection's ``pageInfo.endCursor``,
    sent back as the operation variable `cursor` while ``pageInfo.hasNextPage`` is true."""

    type: Literal["relay"]
    connection: str = Field(min_length=1)  # body path of the connection, e.g. data.issues
    cursor: str = "after"  # the operation variable carrying the cursor
    size: SizeSpec | None = None  # size.param: the operation variable of the page size (e.g. first)


PagingSpec = Annotated[NextUrlPaging | TokenPaging | OffsetPaging | RelayPaging, Field(discriminator="type")]


def build_paginator(spec: PagingSpec, page_size: int | None = None) -> Paginator:
    size_param = spec.size.param if spec.size else None
    size = page_size or (spec.size.value if spec.size else None)
    if isinstance(spec, NextUrlPaging):
        return NextUrlPaginator(spec.next_url, spec.has_more, spec.link_header, size_param, size)
    if isinstance(spec, TokenPaging):
        return TokenPaginator(spec.token, spec.param, spec.is_last, spec.has_more, spec.location, size_param, size)
    if isinstance(spec, OffsetPaging):
        return OffsetPaginator(spec.offset, size_param, size, spec.total, spec.is_last, spec.start)
    if isinstance(spec, RelayPaging):
        info = f"{spec.connection}.pageInfo"
        return TokenPaginator(
            token=f"{info}.endCursor",
            param=f"variables.{spec.cursor}",
            has_more=f"{info}.hasNextPage",
            location="json",
            size_param=f"variables.{size_param}" if size_param else None,
            size=size,
        )
    raise TypeError(f"unknown paginate spec {spec!r}")


