"""One timestamp parser for every time deskhand reads (provider records, webhooks, headers, settings).

``parse_timestamp(value, unit="auto")`` → an aware UTC datetime, or ValueError naming the value.
Units:

- ``auto``: a datetime as is; a number, or a string of digits (``"1713374290"``, ``"1713374290.5"``),
  is unix time — seconds, or milliseconds when it is 10^11 or more (no second count is that large
  before the year 5138, and no millisecond count that small after 1973); anything else is ISO 8601;
- ``iso8601``: ``2024-04-17T17:18:10Z``, ``…10.123+0000``, ``…10.123456789Z`` (beyond microseconds
  is cut), ``2024-04-17 17:18:10`` (no offset: UTC), ``2024-04-17``;
- ``epoch_s`` / ``epoch_ms`` (also ``seconds``, ``s`` / ``ms``): unix seconds / milliseconds, integer
  or float;
- ``http_date``: ``Wed, 21 Oct 2015 07:28:00 GMT``.

``to_datetime(value)`` is the lenient reader of provider fields: None for None, "" and anything
unreadable (a record's odd field must not stop a sync).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

UNITS = ("auto", "iso8601", "epoch_s", "epoch_ms", "seconds", "s", "ms", "http_date")
_SECONDS = ("epoch_s", "seconds", "s")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")
MS_FROM = 1e11  # a unix time at least this large is in milliseconds


def _aware(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _epoch(number: float, unit: str) -> datetime:
    if unit in ("epoch_ms", "ms") or (unit == "auto" and abs(number) >= MS_FROM):
        number /= 1000
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError(f"{number!r} is out of range for a unix time") from exc


def _iso(text: str) -> datetime:
    try:
        return _aware(datetime.fromisoformat(_LONG_FRACTION.sub(r"\1", text)))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time (e.g. 2024-04-17T17:18:10Z)") from None


def parse_timestamp(value: Any, unit: str = "auto") -> datetime:
    """`value` as an aware UTC datetime, read in `unit` (see the module docstring); ValueError if it isn't one."""
    if unit not in UNITS:
        raise ValueError(f"unknown timestamp unit {unit!r}; one of {', '.join(UNITS)}")
    if isinstance(value, datetime):
        return _aware(value)
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a timestamp")
    if unit == "http_date":
        try:
            return _aware(parsedate_to_datetime(str(value)))
        except (TypeError, ValueError, IndexError):
            raise ValueError(f"{value!r} is not an HTTP date (e.g. Wed, 21 Oct 2015 07:28:00 GMT)") from None
    if isinstance(value, int | float):
        if unit == "iso8601":
            raise ValueError(f"{value!r} is a number, not an ISO 8601 time")
        return _epoch(float(value), unit)
    text = str(value).strip()
    if unit in (*_SECONDS, "epoch_ms", "ms") or (unit == "auto" and _NUMBER.match(text)):
        if not _NUMBER.match(text):
            raise ValueError(f"{value!r} is not a unix time")
        return _epoch(float(text), unit)
    return _iso(text)


def to_datetime(value: Any, unit: str = "auto") -> datetime | None:
    """Lenient :func:`parse_timestamp`: None for None, "" and unreadable values."""
    if value is None or value == "":
        return None
    try:
        return parse_timestamp(value, unit)
    except ValueError:
        return None
