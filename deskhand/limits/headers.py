"""What a provider's response headers say about its rate limits, read through its definition.

Zendesk: ``X-Rate-Limit`` / ``X-Rate-Limit-Remaining`` / ``ratelimit-reset`` (seconds) and
``Retry-After`` on 429. Jira: ``X-RateLimit-Limit`` / ``-Remaining``; on 429 ``Retry-After``,
``X-RateLimit-Reset`` (ISO-8601) and ``RateLimit-Reason`` (FACTS §1.5, §2.5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from deskhand.providers.definition import LimitsSpec


@dataclass(frozen=True, slots=True)
class Reading:
    limit: int | None = None
    remaining: int | None = None
    reset_s: float | None = None  # seconds until the window resets (as of the response)
    retry_after: float | None = None
    reason: str | None = None  # Jira RateLimit-Reason
    near_limit: bool = False

    @property
    def known(self) -> bool:
        return self.limit is not None and self.remaining is not None


def _number(value: str | None) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _reset_seconds(value: str | None, now: float) -> float | None:
    """Seconds until reset: a number of seconds, a Unix time, or an ISO-8601 instant."""
    number = _number(value)
    if number is not None:
        return max(0.0, number - now) if number > 1_000_000_000 else max(0.0, number)
    if not value:
        return None
    try:
        return max(0.0, datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() - now)
    except ValueError:
        return None


def read_headers(spec: LimitsSpec, headers: Mapping[str, str], now: float) -> Reading:
    limit = _number(headers.get(spec.limit_header)) if spec.limit_header else None
    remaining = _number(headers.get(spec.remaining_header)) if spec.remaining_header else None
    reset_raw = headers.get(spec.reset_header) if spec.reset_header else None
    if reset_raw is None:
        reset_raw = headers.get("x-ratelimit-reset")
    return Reading(
        limit=int(limit) if limit is not None else None,
        remaining=int(remaining) if remaining is not None else None,
        reset_s=_reset_seconds(reset_raw, now),
        retry_after=_number(headers.get(spec.retry_after_header)),
        reason=headers.get("ratelimit-reason") or headers.get("x-beta-ratelimit-reason"),
        near_limit=(headers.get("x-ratelimit-nearlimit") or "").lower() == "true",
    )
