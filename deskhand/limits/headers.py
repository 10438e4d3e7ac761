"""What a provider's response headers say about its rate budgets, read through its definition.

Every figure is read where the definition's `limits.budgets` says, in the unit it declares (an
epoch-millisecond reset is not mistaken for seconds); nothing is guessed from the value's size.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from deskhand.providers.spec_limits import BudgetSpec, LimitsSpec, ResetUnit
from deskhand.timestamps import to_datetime


@dataclass(frozen=True, slots=True)
class BudgetReading:
    """One budget as one response announced it (None: not said)."""

    limit: int | None = None
    remaining: int | None = None
    reset_s: float | None = None  # seconds until the window resets (as of the response)
    window_s: float | None = None  # the window's length, when a header says
    cost: float | None = None

    @property
    def known(self) -> bool:
        return self.limit is not None and self.remaining is not None

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0


@dataclass(frozen=True, slots=True)
class Reading:
    budgets: dict[str, BudgetReading] = field(default_factory=dict)
    retry_after: float | None = None
    reason: str | None = None

    def latest_reset(self) -> float | None:
        resets = [b.reset_s for b in self.budgets.values() if b.reset_s is not None]
        return max(resets) if resets else None


def _number(value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _instant(value: str) -> float | None:
    when = to_datetime(value, "iso8601")
    return None if when is None else when.timestamp()


def _http_date(value: str) -> float | None:
    when = to_datetime(value, "http_date")
    return None if when is None else when.timestamp()


def reset_seconds(value: str | None, unit: ResetUnit, now: float) -> float | None:
    """Seconds from `now` until a reset given as `value` in `unit` (never negative); None if unreadable."""
    if value is None or not value.strip():
        return None
    if unit in ("seconds", "epoch_s", "epoch_ms"):
        number = _number(value)
        if number is None:
            return None
        at = {"seconds": now + number, "epoch_s": number, "epoch_ms": number / 1000.0}[unit]
    else:
        found = _http_date(value) if unit == "http_date" else _instant(value)
        if found is None:
            return None
        at = found
    return max(0.0, at - now)


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """RFC 9110 Retry-After: delay-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    number = _number(value)
    if number is not None:
        return max(0.0, number)
    at = _http_date(value)
    return None if at is None else max(0.0, at - now)


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def header_value(headers: Mapping[str, str], name: str | None) -> str | None:
    """A header's value; ``name#key`` reads one member of a structured header such as Zendesk's
    ``zendesk-ratelimit-tickets-index: total=100; remaining=99; resets=41`` or Jira's
    ``beta-ratelimit: "tenant-app-quota";r=17842;t=2107`` (members split on ``;`` or ``,``)."""
    if not name:
        return None
    header, _, key = name.partition("#")
    value = headers.get(header)
    if value is None or not key:
        return value
    for member in re.split(r"[;,]", value):
        k, sep, v = member.strip().partition("=")
        if sep and k.strip().lower() == key.lower():
            return v.strip().strip('"')
    return None


def read_budget(spec: BudgetSpec, headers: Mapping[str, str], now: float) -> BudgetReading:
    def get(name: str | None) -> str | None:
        return header_value(headers, name)

    limit = _number(get(spec.limit))
    remaining = _number(get(spec.remaining))
    used = _number(get(spec.used))
    if remaining is None and used is not None and limit is not None:
        remaining = max(0.0, limit - used)
    window = _number(get(spec.window))
    if window is not None and spec.window_unit == "ms":
        window /= 1000.0
    return BudgetReading(
        limit=_int(limit),
        remaining=_int(remaining),
        reset_s=reset_seconds(get(spec.reset), spec.reset_unit, now),
        window_s=window if window and window > 0 else None,
        cost=_number(get(spec.cost)),
    )


def read_headers(spec: LimitsSpec, headers: Mapping[str, str], now: float) -> Reading:
    """Every budget, the Retry-After and the reason one response's headers announce."""
    reason = None
    if spec.reason is not None:
        reason = next((headers[h] for h in spec.reason.headers() if headers.get(h)), None)
    return Reading(
        budgets={name: read_budget(b, headers, now) for name, b in spec.budgets.items()},
        retry_after=retry_after_seconds(headers.get(spec.retry_after), now) if spec.retry_after else None,
        reason=reason,
    )
