"""Fail points for crash tests: `DESKHAND_CRASH_AT=<point>` makes the process die (like kill -9) there.

Used by the test suite to prove that a crash at the worst moment loses nothing and doubles nothing.
Unset (always, in production) it costs one dictionary lookup.
"""

from __future__ import annotations

import os

POINTS = ("after_provider_call", "before_ack")


def crash_point(name: str) -> None:
    if os.environ.get("DESKHAND_CRASH_AT") == name:
        os._exit(137)
