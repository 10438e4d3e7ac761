"""Cursor values: opaque to clients, validated here (a bad cursor is a 422 problem, not a 500)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Query

from deskhand.api.problems import ApiProblem
from deskhand.timestamps import parse_timestamp


def int_cursor(cursor: str) -> int:
    if not cursor.isdigit() or len(cursor) > 18:
        raise ApiProblem(422, "invalid_cursor", "the cursor is not one this API gave: pass next_cursor as is")
    return int(cursor)


RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
Timestamp = Annotated[str | None, Query(pattern=RFC3339, max_length=40, json_schema_extra={"format": "date-time"},
                                        description="RFC 3339 date-time with offset, e.g. 2026-12-01T09:30:00Z")]


def parse_time(value: str) -> datetime:
    """An RFC 3339 timestamp (the pattern above was already checked); a date that does not exist is 422."""
    try:
        when = parse_timestamp(value.replace("z", "Z").replace("t", "T"), "iso8601")
    except ValueError as exc:
        raise ApiProblem(422, "invalid_request", f"{value!r} is not a valid date-time") from exc
    return when.astimezone(UTC)
