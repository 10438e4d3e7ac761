"""Cursor values: opaque to clients, validated here (a bad cursor is a 422 problem, not a 500)."""

from __future__ import annotations

from deskhand.api.problems import ApiProblem


def int_cursor(cursor: str) -> int:
    if not cursor.isdigit() or len(cursor) > 18:
        raise ApiProblem(422, "invalid_cursor", "the cursor is not one this API gave: pass next_cursor as is")
    return int(cursor)
