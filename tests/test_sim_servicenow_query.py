"""Encoded queries of the ServiceNow simulator: each operator, ^OR binding, ^NQ, ordering."""

from __future__ import annotations

import pytest

from deskhand.sim.servicenow_query import matcher, ordered, parse

ROWS = [
    {"number": "INC1", "state": "1", "priority": "4", "short_description": "Printer jam", "hold_reason": "",
     "sys_updated_on": "2026-01-02 10:00:00"},
    {"number": "INC2", "state": "3", "priority": "1", "short_description": "VPN down", "hold_reason": "1",
     "sys_updated_on": "2026-01-01 09:00:00"},
    {"number": "INC3", "state": "6", "priority": "10", "short_description": "printer toner", "hold_reason": "",
     "sys_updated_on": "2026-01-03 08:00:00"},
]
COLUMNS = set(ROWS[0])


def numbers(query: str) -> list[str]:
    q = parse(query)
    test = matcher(q, COLUMNS, lambda r: r["short_description"])
    return [r["number"] for r in ordered([r for r in ROWS if test(r)], q.order)]


@pytest.mark.parametrize(("query", "want"), [
    pytest.param("", ["INC1", "INC2", "INC3"], id="empty"),
    pytest.param("state=1", ["INC1"], id="equals"),
    pytest.param("state!=1", ["INC2", "INC3"], id="not-equals"),
    pytest.param("short_descriptionLIKEprinter", ["INC1", "INC3"], id="like-ignores-case"),
    pytest.param("short_descriptionNOTLIKEprinter", ["INC2"], id="not-like"),
    pytest.param("short_descriptionSTARTSWITHvpn", ["INC2"], id="startswith"),
    pytest.param("stateIN1,6", ["INC1", "INC3"], id="in"),
    pytest.param("stateNOT IN1,6", ["INC2"], id="not-in"),
    pytest.param("priority>2", ["INC1", "INC3"], id="numbers-compare-as-numbers"),
    pytest.param("priority<=4", ["INC1", "INC2"], id="at-most"),
    pytest.param("sys_updated_on>2026-01-01 09:00:00", ["INC1", "INC3"], id="dates"),
    pytest.param("sys_updated_on>=javascript:gs.dateGenerate('2026-01-02','10:00:00')", ["INC1", "INC3"],
                 id="date-generate"),
    pytest.param("hold_reasonISEMPTY", ["INC1", "INC3"], id="isempty"),
    pytest.param("hold_reasonISNOTEMPTY", ["INC2"], id="isnotempty"),
    pytest.param("state=1^ORstate=3", ["INC1", "INC2"], id="or"),
    pytest.param("priority>2^state=1^ORstate=6", ["INC1", "INC3"], id="or-binds-tighter-than-and"),
    pytest.param("state=1^NQstate=6", ["INC1", "INC3"], id="new-query"),
    pytest.param("123TEXTQUERY321=PRINTER toner", ["INC3"], id="keyword"),
    pytest.param("no_such_field=1^state=3", ["INC2"], id="unknown-field-ignored"),
    pytest.param("ORDERBYDESCsys_updated_on", ["INC3", "INC1", "INC2"], id="order-desc"),
    pytest.param("ORDERBYpriority", ["INC2", "INC1", "INC3"], id="numeric-order"),
    pytest.param("stateIN1,3,6^ORDERBYDESCstate^ORDERBYnumber", ["INC3", "INC2", "INC1"], id="two-keys"),
])
def test_encoded_query_selects_and_orders(query: str, want: list[str]) -> None:
    assert numbers(query) == want
