"""The Freshdesk simulator's ticket filter language (``search/tickets?query="…"``)."""

from __future__ import annotations

from typing import Any

import pytest

from deskhand.sim.freshdesk_records import FreshdeskError
from deskhand.sim.freshdesk_search import compile_query, search_page


def ticket(tid: int, **fields: Any) -> dict[str, Any]:
    base = {"id": tid, "status": 2, "priority": 1, "type": None, "tags": [], "responder_id": None, "group_id": None,
            "created_at": "2026-11-10T10:00:00Z", "updated_at": "2026-11-12T10:00:00Z", "due_by": None,
            "fr_due_by": None, "custom_fields": {}, "_created": float(tid), "_deleted": False, "spam": False}
    return base | fields


TICKETS = [
    ticket(1, status=2, priority=3, tags=["vip"], type="Question"),
    ticket(2, status=3, priority=3, responder_id=9, type="Problem"),
    ticket(3, status=4, priority=1, created_at="2026-10-01T00:00:00Z", custom_fields={"cf_plan": "pro"}),
    ticket(4, status=2, priority=4, _deleted=True),
]


@pytest.mark.parametrize(("query", "ids"), [
    ('"status:2"', [1]),
    ('"status:2 AND priority:3"', [1]),
    ('"status:2 OR status:3"', [2, 1]),
    ("\"(type:'Question' OR type:'Problem') AND priority:3\"", [2, 1]),
    ("\"tag:'vip'\"", [1]),
    ('"agent_id:null"', [3, 1]),
    ('"agent_id:9"', [2]),
    ("\"created_at:<'2026-10-31'\"", [3]),
    ("\"created_at:>'2026-11-01'\"", [2, 1]),
    ("\"cf_plan:'pro'\"", [3]),
    ('"priority:>2"', [2, 1]),
], ids=["status", "and", "or", "parentheses", "tag", "unassigned", "agent", "created_before", "created_after",
        "custom_field", "priority_greater"])
def test_query_finds_live_tickets_newest_first(query, ids) -> None:
    assert [t["id"] for t in search_page(TICKETS, query, 1)["results"]] == ids


@pytest.mark.parametrize("query", [
    "status:2", '""', '"status:open"', '"subject:\'x\'"', '"(status:2"', '"status:2 AND"', "\"created_at:>'soon'\"",
], ids=["no_quotes", "empty", "unquoted_string", "unsupported_field", "unbalanced", "dangling_and", "bad_date"])
def test_bad_queries_are_400_validation_errors(query) -> None:
    with pytest.raises(FreshdeskError) as caught:
        compile_query(query)
    assert caught.value.status == 400 and caught.value.body["errors"][0]["field"] == "query"  # type: ignore[index]


def test_pages_hold_30_results_and_stop_at_10() -> None:
    many = [ticket(i) for i in range(1, 400)]
    page = search_page(many, '"status:2"', 10)
    assert len(page["results"]) == 30 and page["total"] == 399
    with pytest.raises(FreshdeskError):
        search_page(many, '"status:2"', 11)
