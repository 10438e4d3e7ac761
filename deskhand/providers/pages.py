"""Listings: the one place a page's records are taken out of a response body.

An empty list at the items path is a legitimate empty page. A body without the path, with
something else than a list there, or no body at all is a :class:`BadResponse`, never an empty
page: reading it as one would end the listing early, and a full sync would then tombstone every
record it did not see.
"""

from __future__ import annotations

from typing import Any

from deskhand.errors import BadResponse
from deskhand.providers.fields import MISSING, get_path


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
