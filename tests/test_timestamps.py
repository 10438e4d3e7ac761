"""deskhand.timestamps: one parser for ISO 8601, unix seconds / milliseconds (numbers or digit strings), HTTP dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from deskhand.timestamps import parse_timestamp, to_datetime

T = datetime(2024, 4, 17, 17, 18, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        ("2024-04-17T17:18:10Z", "auto", T),
        ("2024-04-17T17:18:10+00:00", "auto", T),
        ("2024-04-17T19:18:10+02:00", "auto", T),
        ("2024-04-17T17:18:10.123+0000", "auto", T.replace(microsecond=123000)),
        ("2024-04-17T17:18:10.123456789Z", "auto", T.replace(microsecond=123456)),
        ("2024-04-17 17:18:10", "auto", T),
        ("2024-04-17", "auto", T.replace(hour=0, minute=0, second=0)),
        (1713374290, "auto", T),
        (1713374290.5, "auto", T.replace(microsecond=500000)),
        ("1713374290", "auto", T),
        (" 1713374290.25 ", "auto", T.replace(microsecond=250000)),
        (1713374290123, "auto", T.replace(microsecond=123000)),
        ("1713374290123", "auto", T.replace(microsecond=123000)),
        (1713374290, "epoch_s", T),
        ("1713374290123", "epoch_ms", T.replace(microsecond=123000)),
        (1713374290123, "ms", T.replace(microsecond=123000)),
        ("Wed, 17 Apr 2024 17:18:10 GMT", "http_date", T),
        (datetime(2024, 4, 17, 17, 18, 10), "auto", T),
        (datetime(2024, 4, 17, 12, 18, 10, tzinfo=timezone(timedelta(hours=-5))), "auto", T),
    ],
    ids=["iso-z", "iso-offset", "iso-plus-two", "iso-ms-no-colon", "iso-nanoseconds", "iso-space-no-offset",
         "date-only", "epoch-s-int", "epoch-s-float", "epoch-s-digits", "epoch-s-digits-fraction", "epoch-ms-int",
         "epoch-ms-digits", "declared-epoch-s", "declared-epoch-ms", "declared-ms-alias", "http-date",
         "naive-datetime-is-utc", "aware-datetime-to-utc"],
)
def test_every_shape_reads_as_the_same_utc_instant(value: Any, unit: str, expected: datetime) -> None:
    got = parse_timestamp(value, unit)
    assert got == expected and got.tzinfo == UTC


@pytest.mark.parametrize(
    ("value", "unit", "says"),
    [
        ("yesterday", "auto", "not an ISO 8601 time"),
        (1713374290, "iso8601", "is a number"),
        ("2024-04-17", "epoch_s", "not a unix time"),
        ("soon", "http_date", "not an HTTP date"),
        (True, "auto", "not a timestamp"),
        (1e300, "auto", "out of range"),
        ("2024", "fortnights", "unknown timestamp unit"),
    ],
    ids=["words", "number-as-iso", "iso-as-epoch", "bad-http-date", "boolean", "huge", "unknown-unit"],
)
def test_what_is_not_a_timestamp_is_a_value_error_naming_it(value: Any, unit: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_timestamp(value, unit)


@pytest.mark.parametrize("value", [None, "", "n/a", {"a": 1}], ids=["none", "empty", "words", "object"])
def test_the_lenient_reader_gives_none_for_what_it_cannot_read(value: Any) -> None:
    assert to_datetime(value) is None


@pytest.mark.parametrize("value", [1713374290, "1713374290", 1713374290000, "2024-04-17T17:18:10Z"],
                         ids=["front-epoch-s", "digits", "epoch-ms", "iso"])
def test_provider_records_and_the_reconcile_start_read_times_with_the_same_parser(value: Any) -> None:
    from deskhand.providers.records import to_datetime as record_time
    from deskhand.sync.reconcile import _when

    assert record_time(value) == T and _when(value) == T
