"""JQL subset: parsing, Jira-worded errors, evaluation over facts, ordering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from deskhand.sim.jql import Context, JqlError, parse, parse_date, search

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
CTX = Context(now=NOW, current_user="acc-me")


def issue(key: str, **kw: Any) -> dict[str, Any]:
    number = int(key.split("-")[1])
    facts: dict[str, Any] = {
        "key": [key], "id": [str(10000 + number)], "project": [key.split("-")[0], "Support desk"],
        "status": ["Open"], "statuscategory": ["new", "To Do"], "labels": [], "assignee": [],
        "reporter": ["acc-cust", "Cara Customer"], "priority": ["Medium"], "issuetype": ["Task"],
        "summary": "", "text": "", "created": NOW - timedelta(days=number), "updated": NOW - timedelta(hours=number),
        "resolved": None,
    }
    facts.update(kw)
    if not facts["text"]:
        facts["text"] = facts["summary"]
    return facts


ISSUES = [
    issue("SUP-1", summary="Password reset link broken", labels=["login", "urgent"], assignee=["acc-me", "Me"],
          priority=["High"], _sort={"priority": 2}),
    issue("SUP-2", summary="Invoice question", status=["In Progress"], statuscategory=["indeterminate"],
          labels=["billing"], _sort={"priority": 3}),
    issue("SUP-3", summary="Cannot login after passwords change", status=["Resolved"],
          statuscategory=["done", "Done"], assignee=["acc-bo", "Bo"], resolved=NOW, _sort={"priority": 3}),
    issue("OPS-12", summary="Disk full on db-1", issuetype=["Incident"], labels=["infra"], priority=["Highest"],
          _sort={"priority": 1}),
    issue("SUP-10", summary="Feature: dark mode", text="Feature: dark mode. Body mentions export to CSV",
          created=NOW - timedelta(days=40), _sort={"priority": 3}),
]


def keys(jql: str) -> list[str]:
    return [i["key"][0] for i in search(jql, ISSUES, lambda i: i, CTX)]


CASES = {
    "project_eq": ("project = SUP ORDER BY key", ["SUP-1", "SUP-2", "SUP-3", "SUP-10"]),
    "project_by_name_case_insensitive": ('project = "support DESK" AND key = ops-12', ["OPS-12"]),
    "status_in_quoted": ('status IN (Open, "In Progress") ORDER BY key', ["OPS-12", "SUP-1", "SUP-2", "SUP-10"]),
    "status_category": ("statusCategory = done", ["SUP-3"]),
    "status_category_not": ("statusCategory != Done ORDER BY key DESC", ["SUP-10", "SUP-2", "SUP-1", "OPS-12"]),
    "labels_eq": ("labels = urgent", ["SUP-1"]),
    "labels_not_in_skips_unlabelled": ("labels NOT IN (billing) ORDER BY key", ["OPS-12", "SUP-1"]),
    "labels_not_in_with_empty": ("labels NOT IN (billing, EMPTY) ORDER BY key", ["OPS-12", "SUP-1"]),
    "labels_is_empty": ("labels IS EMPTY ORDER BY key", ["SUP-3", "SUP-10"]),
    "assignee_current_user": ("assignee = currentUser()", ["SUP-1"]),
    "assignee_empty_or": ("assignee = EMPTY OR assignee = acc-bo ORDER BY key",
                          ["OPS-12", "SUP-2", "SUP-3", "SUP-10"]),
    "assignee_is_not_empty": ("assignee IS NOT EMPTY ORDER BY key", ["SUP-1", "SUP-3"]),
    "assignee_by_display_name": ('assignee = "bo"', ["SUP-3"]),
    "reporter": ("reporter = acc-cust AND project = OPS", ["OPS-12"]),
    "priority_in": ("priority in (High, Highest) ORDER BY priority", ["OPS-12", "SUP-1"]),
    "issuetype_alias": ("type = Incident", ["OPS-12"]),
    "key_in": ("issuekey in (SUP-2, SUP-3) ORDER BY key DESC", ["SUP-3", "SUP-2"]),
    "key_greater_numeric_not_lexical": ("key > SUP-2 AND project = SUP ORDER BY key", ["SUP-3", "SUP-10"]),
    "id_eq": ("id = 10002", ["SUP-2"]),
    "text_all_words": ('text ~ "password reset"', ["SUP-1"]),
    "text_light_stemming": ('summary ~ "password" ORDER BY key', ["SUP-1", "SUP-3"]),
    "text_wildcard": ("summary ~ 'pass*' ORDER BY key", ["SUP-1", "SUP-3"]),
    "text_phrase": (r'text ~ "\"export to csv\""', ["SUP-10"]),
    "text_not": ('summary !~ login AND project = SUP ORDER BY key', ["SUP-1", "SUP-2", "SUP-10"]),
    "created_relative_days": ("created >= -2d ORDER BY created DESC", ["SUP-1", "SUP-2"]),
    "created_relative_weeks": ("created < -1w", ["OPS-12", "SUP-10"]),
    "updated_relative_minutes": ("updated > -150m ORDER BY updated DESC", ["SUP-1", "SUP-2"]),
    "symbol_and_or": ("project = OPS || labels = billing && status = 'In Progress' ORDER BY key",
                      ["OPS-12", "SUP-2"]),
    "created_absolute_date": ('created <= "2024-02-01" ', ["SUP-10"]),
    "created_absolute_datetime": ('created > "2024/03/08 11:59" ORDER BY key', ["SUP-1", "SUP-2"]),
    "resolved_empty": ("resolved IS NOT EMPTY", ["SUP-3"]),
    "not_parentheses": ("NOT (project = SUP OR labels = infra)", []),
    "bang_not": ("!(project = SUP) ", ["OPS-12"]),
    "and_binds_tighter_than_or": ("project = OPS OR project = SUP AND labels = billing ORDER BY key",
                                  ["OPS-12", "SUP-2"]),
    "order_multiple_keys": ("ORDER BY priority ASC, key DESC", ["OPS-12", "SUP-1", "SUP-10", "SUP-3", "SUP-2"]),
    "empty_query_matches_all": ("", ["SUP-1", "SUP-2", "SUP-3", "OPS-12", "SUP-10"]),
    "keywords_any_case": ("Project = SUP and Status = Open oRdEr bY Key dEsC", ["SUP-10", "SUP-1"]),
}


@pytest.mark.parametrize(("jql", "expected"), CASES.values(), ids=CASES.keys())
def test_search_filters_and_orders(jql: str, expected: list[str]) -> None:
    assert keys(jql) == expected


ERRORS = {
    "unknown_field": ("foo = 1", "Field 'foo' does not exist"),
    "missing_value": ("project = ", "Expecting either a value, 'EMPTY' or a function but got the end of the query"),
    "unclosed_paren": ("(project = SUP", "Expecting ')' but got the end of the query"),
    "dangling_and": ("project = SUP AND", "Expecting a field name but got the end of the query"),
    "junk_after": ("project = SUP SUP", "Expecting either 'AND', 'OR', 'ORDER BY' or the end of the query"),
    "tilde_on_status": ("status ~ open", "The operator '~' is not supported by the 'status' field."),
    "eq_on_summary": ("summary = x", "The operator '=' is not supported by the 'summary' field."),
    "gt_on_labels": ("labels > a", "The operator '>' is not supported by the 'labels' field."),
    "in_on_date": ("created in (-1d)", "The operator 'IN' is not supported by the 'created' field."),
    "bad_date": ("created > yesterday", "Date value 'yesterday' for field is invalid"),
    "unknown_function": ("assignee = membersOf()", "Unable to find JQL function 'membersOf()'."),
    "current_user_on_project": ("project = currentUser()", "The function 'currentUser' is not supported"),
    "is_needs_empty": ("assignee IS me", "Expecting 'EMPTY' or 'NULL' but got 'me'"),
    "order_without_by": ("ORDER key", "Expecting 'BY' but got 'key'"),
    "reserved_char": ("project = SUP ; x", "Expecting either 'AND', 'OR', 'ORDER BY' or the end of the query"),
    "bad_first_token": ("= SUP", "Expecting a field name but got '='"),
}


@pytest.mark.parametrize(("jql", "message"), ERRORS.values(), ids=ERRORS.keys())
def test_bad_jql_raises_jira_worded_errors(jql: str, message: str) -> None:
    with pytest.raises(JqlError) as err:
        keys(jql)
    assert message in str(err.value)


DATES = {
    "minus_days": ("-7d", NOW - timedelta(days=7)),
    "minus_hours": ("-2h", NOW - timedelta(hours=2)),
    "minus_weeks": ("-1w", NOW - timedelta(weeks=1)),
    "minus_minutes": ("-30m", NOW - timedelta(minutes=30)),
    "plus_days": ("3d", NOW + timedelta(days=3)),
    "date": ("2024-01-31", datetime(2024, 1, 31, tzinfo=UTC)),
    "datetime": ("2024-01-31 12:30", datetime(2024, 1, 31, 12, 30, tzinfo=UTC)),
    "slashes": ("2024/01/31", datetime(2024, 1, 31, tzinfo=UTC)),
}


@pytest.mark.parametrize(("text", "when"), DATES.values(), ids=DATES.keys())
def test_dates_parse_relative_to_now_or_absolute_utc(text: str, when: datetime) -> None:
    assert parse_date(text, NOW) == when


def test_clauses_lists_every_clause_for_validation() -> None:
    query = parse("project = SUP AND (status = Open OR NOT project in (OPS, X)) ORDER BY key")
    assert sorted(c.field for c in query.clauses()) == ["project", "project", "status"]
    assert [(k.field, k.descending) for k in query.order_by] == [("key", False)]
