"""deskhand.limits.headers: each provider's budgets said as data (the `limits:` YAML the provider
definitions use), headers in -> budget figures out, in the units each provider declares."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

from deskhand.errors import ConfigError
from deskhand.limits.headers import BudgetReading, read_headers, reset_seconds, retry_after_seconds
from deskhand.providers.definition import DEFS_DIR, read_definition
from deskhand.providers.spec_limits import LimitsSpec

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def spec(text: str) -> LimitsSpec:
    return LimitsSpec.model_validate(yaml.safe_load(text))


LINEAR = spec("""
window_s: 3600
retry_after: null
budgets:
  requests: {limit: x-ratelimit-requests-limit, remaining: x-ratelimit-requests-remaining,
             reset: x-ratelimit-requests-reset, reset_unit: epoch_ms}
  complexity: {limit: x-ratelimit-complexity-limit, remaining: x-ratelimit-complexity-remaining,
               reset: x-ratelimit-complexity-reset, reset_unit: epoch_ms, cost: x-complexity}
""")
FRONT = spec("""
window_s: 60
budgets:
  requests: {limit: x-ratelimit-limit, remaining: x-ratelimit-remaining, reset: x-ratelimit-reset, reset_unit: epoch_s}
""")
SERVICENOW = spec("""
window_s: 3600
budgets:
  requests: {limit: x-ratelimit-limit, reset: x-ratelimit-reset, reset_unit: epoch_s}
""")
FRESHDESK = spec("""
window_s: 60
budgets:
  requests: {limit: x-ratelimit-total, remaining: x-ratelimit-remaining, cost: x-ratelimit-used-currentrequest}
""")
TRELLO = spec("""
window_s: 10
retry_after: null
budgets:
  api_key: {limit: x-rate-limit-api-key-max, remaining: x-rate-limit-api-key-remaining,
            window: x-rate-limit-api-key-interval-ms, window_unit: ms, default_limit: 300}
  api_token: {limit: x-rate-limit-api-token-max, remaining: x-rate-limit-api-token-remaining,
              window: x-rate-limit-api-token-interval-ms, window_unit: ms, default_limit: 100}
""")
STRUCTURED = spec("""
budgets:
  tickets_index:
    limit: "zendesk-ratelimit-tickets-index#total"
    remaining: "zendesk-ratelimit-tickets-index#remaining"
    reset: "zendesk-ratelimit-tickets-index#resets"
  app_quota: {remaining: "beta-ratelimit#r", reset: "beta-ratelimit#t", limit: "beta-ratelimit-policy#q"}
""")
USED = spec("""
budgets:
  requests: {limit: x-limit, used: x-used, reset: x-reset, reset_unit: http_date}
""")


@pytest.mark.parametrize(
    ("limits", "headers", "expected"),
    [
        (LINEAR, {"x-ratelimit-requests-limit": "5000", "x-ratelimit-requests-remaining": "4990",
                  "x-ratelimit-requests-reset": str(int((NOW + 1800) * 1000)), "x-complexity": "12",
                  "x-ratelimit-complexity-limit": "3000000", "x-ratelimit-complexity-remaining": "2999000",
                  "x-ratelimit-complexity-reset": str(int((NOW + 600) * 1000))},
         {"requests": BudgetReading(5000, 4990, 1800.0),
          "complexity": BudgetReading(3000000, 2999000, 600.0, cost=12)}),
        (FRONT, {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW + 42))},
         {"requests": BudgetReading(100, 0, 42.0)}),
        (SERVICENOW, {"X-RateLimit-Limit": "5000", "X-RateLimit-Reset": str(int(NOW + 3000)),
                      "X-RateLimit-Rule": "b2c4e9"},
         {"requests": BudgetReading(5000, None, 3000.0)}),
        (FRESHDESK, {"X-Ratelimit-Total": "400", "X-Ratelimit-Remaining": "398",
                     "X-Ratelimit-Used-CurrentRequest": "2"},
         {"requests": BudgetReading(400, 398, None, cost=2)}),
        (TRELLO, {"x-rate-limit-api-key-interval-ms": "10000", "x-rate-limit-api-key-max": "300",
                  "x-rate-limit-api-key-remaining": "299", "x-rate-limit-api-token-interval-ms": "10000",
                  "x-rate-limit-api-token-max": "100", "x-rate-limit-api-token-remaining": "0"},
         {"api_key": BudgetReading(300, 299, None, 10.0), "api_token": BudgetReading(100, 0, None, 10.0)}),
        (USED, {"x-limit": "60", "x-used": "45", "x-reset": "Thu, 01 Jan 2026 00:00:30 GMT"},
         {"requests": BudgetReading(60, 15, 30.0)}),
        (TRELLO, {}, {"api_key": BudgetReading(), "api_token": BudgetReading()}),
        (STRUCTURED, {"zendesk-ratelimit-tickets-index": "total=100; remaining=99; resets=41",
                      "Beta-RateLimit-Policy": '"tenant-app-quota";q=65000;w=3600',
                      "Beta-RateLimit": '"tenant-app-quota";r=17842;t=2107'},
         {"tickets_index": BudgetReading(100, 99, 41.0), "app_quota": BudgetReading(65000, 17842, 2107.0)}),
    ],
    ids=["linear-two-budgets-epoch-ms", "front-epoch-s", "servicenow-size-without-count", "freshdesk-cost",
         "trello-key-and-token-interval-ms", "used-and-http-date", "nothing-said", "structured-header-members"],
)
def test_each_budget_is_read_in_its_declared_unit(limits: LimitsSpec, headers: dict[str, str],
                                                  expected: dict[str, BudgetReading]) -> None:
    assert read_headers(limits, httpx.Headers(headers), NOW).budgets == expected


@pytest.mark.parametrize(
    ("value", "unit", "seconds"),
    [("41", "seconds", 41.0), (str(int(NOW + 90)), "epoch_s", 90.0), (str(int((NOW + 90) * 1000)), "epoch_ms", 90.0),
     ("2026-01-01T01:00:00Z", "iso8601", 3600.0), ("2026-01-01T00:10Z", "iso8601", 600.0),
     ("Thu, 01 Jan 2026 00:01:00 GMT", "http_date", 60.0), (str(int(NOW - 5)), "epoch_s", 0.0),
     ("soon", "seconds", None), ("soon", "iso8601", None), ("", "epoch_ms", None)],
    ids=["seconds", "epoch-s", "epoch-ms", "iso", "iso-minutes", "http-date", "past-is-now", "bad-number", "bad-iso",
         "empty"],
)
def test_reset_units(value: str, unit: str, seconds: float | None) -> None:
    assert reset_seconds(value, unit, NOW) == seconds  # type: ignore[arg-type]


def test_an_epoch_millisecond_reset_is_minutes_not_millennia() -> None:
    """Defect 4: read as seconds, Linear's reset was ~56,000 years away."""
    reset = str(int((NOW + 300) * 1000))
    assert reset_seconds(reset, "epoch_ms", NOW) == 300.0
    assert reset_seconds(reset, "epoch_s", NOW) > 50_000 * 365 * 86400  # what declaring the wrong unit would mean


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("7", 7.0), ("Thu, 01 Jan 2026 00:00:20 GMT", 20.0), ("never", None), (None, None)],
    ids=["delay-seconds", "http-date", "unreadable", "absent"],
)
def test_retry_after_is_seconds_or_an_http_date(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, NOW) == seconds


def test_the_reason_is_read_from_the_first_declared_header_present() -> None:
    limits = spec("reason: {header: [ratelimit-reason, x-beta-ratelimit-reason], scopes: {q: quota}}")
    assert read_headers(limits, {"x-beta-ratelimit-reason": "q"}, NOW).reason == "q"
    assert limits.scope_of("q") == "quota" and limits.scope_of("other") == "account"


@pytest.mark.parametrize(
    ("text", "match"),
    [("limit_header: x-rate-limit", "are gone"),
     ("budgets: {requests: {reset: x-reset}}", "needs a `limit` or `remaining`"),
     ("budgets: {requests: {limit: x, reset_unit: minutes}}", "reset_unit"),
     ("records: {arg: ticket_id, writes: [[0, 10]]}", "must be"),
     ("reason: {header: r, scopes: {x: everything}}", "scopes")],
    ids=["old-flat-headers", "budget-without-figures", "unknown-unit", "zero-writes", "unknown-scope"],
)
def test_invalid_limits_are_refused_at_load_naming_the_field(text: str, match: str, tmp_path: Path) -> None:
    base = yaml.safe_load((DEFS_DIR / "zendesk.yaml").read_text())
    base["limits"] = yaml.safe_load(text)
    path = tmp_path / "zendesk.yaml"
    path.write_text(yaml.safe_dump(base))
    with pytest.raises(ConfigError, match=match):
        read_definition(path)
