"""deskhand.providers.error_rules: errors as data — where a body carries errors and what they mean."""

from __future__ import annotations

from typing import Any

import pytest

from deskhand.errors import BodyError
from deskhand.providers.definition import ErrorRuleSpec
from deskhand.providers.error_rules import body_reader, read_error

GRAPHQL = ErrorRuleSpec(
    path="errors", code="extensions.code", message="message",
    map={"RATELIMITED": "rate_limited", "AUTHENTICATION_ERROR": "auth", "BAD_USER_INPUT": "permanent"},
)
REST = ErrorRuleSpec(path="error", message="message", map={"RecordNotFound": "not_found"}, default="retryable")


def gql(*errors: tuple[str | None, str]) -> dict[str, Any]:
    return {"data": None, "errors": [{"message": m, **({"extensions": {"code": c}} if c else {})} for c, m in errors]}


@pytest.mark.parametrize(
    ("rules", "body", "expected"),
    [
        ([GRAPHQL], {"data": {"issues": {"nodes": []}}}, None),
        ([GRAPHQL], {"data": {}, "errors": []}, None),
        ([GRAPHQL], gql(("RATELIMITED", "Rate limit exceeded")), BodyError("Rate limit exceeded", "RATELIMITED",
                                                                           "rate_limited")),
        ([GRAPHQL], gql((None, "Boom"), ("AUTHENTICATION_ERROR", "Bad key")), BodyError("Bad key; Boom",
                                                                                       "AUTHENTICATION_ERROR", "auth")),
        ([GRAPHQL], gql(("WHATEVER", "Odd")), BodyError("Odd", "WHATEVER", None)),
        ([GRAPHQL], gql(*[("X", f"e{i}") for i in range(5)]), BodyError("e0; e1; e2 (+2 more)", "X", None)),
        ([REST], {"error": "maintenance"}, BodyError("maintenance", "maintenance", "retryable")),
        ([REST], {"error": "RecordNotFound"}, BodyError("RecordNotFound", "RecordNotFound", "not_found")),
        ([REST], {"error": {"title": "Forbidden", "message": "No access"}}, BodyError("No access", None, "retryable")),
        ([REST], {"error": None, "ticket": {}}, None),
        ([REST], {"error": {}}, None),
        ([REST, GRAPHQL], gql(("RATELIMITED", "slow")), BodyError("slow", "RATELIMITED", "rate_limited")),
        ([ErrorRuleSpec(path="errorMessages")], {"errorMessages": ["Issue does not exist"], "errors": {}},
         BodyError("Issue does not exist", "Issue does not exist", None)),
        ([ErrorRuleSpec(path="errors")], {"errorMessages": [], "errors": {}}, None),
    ],
    ids=["graphql-data", "graphql-empty-errors", "graphql-ratelimited", "mapped-code-wins", "unmapped-code",
         "many-errors-kept-short", "rest-string", "rest-mapped-string", "rest-object-default", "rest-null",
         "rest-empty-object", "second-rule", "jira-error-messages", "jira-no-errors"],
)
def test_rules_find_the_error_a_body_carries_and_its_meaning(
    rules: list[ErrorRuleSpec], body: Any, expected: BodyError | None
) -> None:
    assert read_error(rules, body) == expected


def test_no_rules_no_reader() -> None:
    assert body_reader([]) is None
    reader = body_reader([GRAPHQL])
    assert reader is not None and reader(gql(("RATELIMITED", "x"))) == BodyError("x", "RATELIMITED", "rate_limited")
