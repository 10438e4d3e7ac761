"""Priority lanes of provider traffic: write-back before interactive reads before backfill.

Each lane may spend the budget down to its floor (a share of the provider's limit): backfill stops
first, so a reply (a write) always finds budget left. Under ``PACE_BELOW`` of the limit, reads are
spread evenly over the time left in the window instead of spent in a burst.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

WRITE = "write"
INTERACTIVE = "interactive"
BACKFILL = "backfill"
LANES = (WRITE, INTERACTIVE, BACKFILL)
FLOORS = {WRITE: 0.0, INTERACTIVE: 0.02, BACKFILL: 0.05}  # share of the limit a lane leaves to the others
PACE_BELOW = 0.10  # under this share left, non-write requests are paced to the window's end

_LANE: ContextVar[str] = ContextVar("deskhand_lane", default=INTERACTIVE)
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def current_lane(method: str = "GET") -> str:
    """A write method is always the write lane; a read is in the lane its caller set."""
    return WRITE if method.upper() in _WRITE_METHODS else _LANE.get()


@contextlib.contextmanager
def using_lane(lane: str) -> Iterator[None]:
    if lane not in LANES:
        raise ValueError(f"unknown lane {lane!r}; lanes: {', '.join(LANES)}")
    token = _LANE.set(lane)
    try:
        yield
    finally:
        _LANE.reset(token)
