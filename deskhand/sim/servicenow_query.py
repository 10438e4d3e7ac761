"""ServiceNow encoded queries (``sysparm_query``) for the simulator: parse, match, order.

The subset real clients and integrations send (FACTS.md §5.2): conditions joined by ``^`` (and),
``^OR`` (or, binding tighter than and: ``a^b^ORc`` is a and (b or c)), ``^NQ`` (a new query, or'd with
the rest); operators ``=``, ``!=``, ``LIKE``, ``NOTLIKE``, ``STARTSWITH``, ``ENDSWITH``, ``IN``,
``NOT IN``, ``>``, ``>=``, ``<``, ``<=``, ``ISEMPTY``, ``ISNOTEMPTY``; the keyword search
``123TEXTQUERY321=words``; ``ORDERBY<field>`` and ``ORDERBYDESC<field>``. Values compare as numbers
when both sides are numbers, otherwise as strings (so ``yyyy-MM-dd HH:mm:ss`` dates order correctly);
``javascript:gs.dateGenerate('2026-01-01','00:00:00')`` is read as that date. As on a real instance
(``glide.invalid_query.returns_no_rows`` false), a condition naming a field the table lacks is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

_TERM = re.compile(
    r"^(?P<field>[a-z_][a-z0-9_.]*)"
    r"(?P<op>ISNOTEMPTY|ISEMPTY|NOT IN|IN|NOTLIKE|LIKE|STARTSWITH|ENDSWITH|!=|>=|<=|=|>|<)(?P<value>.*)$",
    re.S,
)
_DATE_GENERATE = re.compile(r"^javascript:gs\.dateGenerate\('([\d-]+)','([\d:]+)'\)$")
KEYWORD = "123TEXTQUERY321"


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: str


@dataclass
class Query:
    """Alternatives (``^NQ``) of conjunctions of disjunctions, and the order."""

    alternatives: list[list[list[Condition]]] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)


def parse(text: str) -> Query:
    """A ``sysparm_query`` string as a :class:`Query` (unreadable conditions are ignored, as ServiceNow does)."""
    query = Query()
    for part in text.split("^NQ") if text else []:
        groups: list[list[Condition]] = []
        for term in part.split("^"):
            term = term.strip()
            if not term or term == "EQ":
                continue
            if term.startswith("ORDERBYDESC"):
                query.order.append((term[len("ORDERBYDESC"):], True))
                continue
            if term.startswith("ORDERBY"):
                query.order.append((term[len("ORDERBY"):], False))
                continue
            is_or = term.startswith("OR") and groups
            condition = _condition(term[2:] if is_or else term)
            if condition is None:
                continue
            if is_or:
                groups[-1].append(condition)
            else:
                groups.append([condition])
        query.alternatives.append(groups)
    return query


def _condition(term: str) -> Condition | None:
    if term.startswith(KEYWORD):
        return Condition(KEYWORD, "=", term[len(KEYWORD) + 1:] if term[len(KEYWORD):][:1] == "=" else "")
    match = _TERM.match(term)
    if match is None:
        return None
    value = match["value"]
    date = _DATE_GENERATE.match(value)
    if date:
        value = f"{date[1]} {date[2]}"
    return Condition(match["field"], match["op"], value)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _compare(left: str, right: str) -> int:
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return (a > b) - (a < b)
    return (left > right) - (left < right)


def _holds(c: Condition, value: str) -> bool:
    low, want = value.lower(), c.value.lower()
    tests: dict[str, Callable[[], bool]] = {
        "=": lambda: value == c.value,
        "!=": lambda: value != c.value,
        "LIKE": lambda: want in low,
        "NOTLIKE": lambda: want not in low,
        "STARTSWITH": lambda: low.startswith(want),
        "ENDSWITH": lambda: low.endswith(want),
        "IN": lambda: value in c.value.split(","),
        "NOT IN": lambda: value not in c.value.split(","),
        ">": lambda: bool(value) and _compare(value, c.value) > 0,
        ">=": lambda: bool(value) and _compare(value, c.value) >= 0,
        "<": lambda: bool(value) and _compare(value, c.value) < 0,
        "<=": lambda: bool(value) and _compare(value, c.value) <= 0,
        "ISEMPTY": lambda: value == "",
        "ISNOTEMPTY": lambda: value != "",
    }
    return tests[c.op]()


def matcher(query: Query, columns: set[str],
            text_of: Callable[[dict[str, Any]], str]) -> Callable[[dict[str, Any]], bool]:
    """A predicate over raw records (string values) of a table with `columns`; `text_of` gives a
    record's searchable text for the keyword condition."""

    def one(c: Condition, record: dict[str, Any]) -> bool | None:  # None: the condition is ignored
        if c.field == KEYWORD:
            words = c.value.lower().split()
            text = text_of(record).lower()
            return all(w in text for w in words)
        if c.field not in columns:
            return None
        return _holds(c, str(record.get(c.field) or ""))

    def conjunction(groups: list[list[Condition]], record: dict[str, Any]) -> bool:
        for group in groups:
            outcomes = [one(c, record) for c in group]
            known = [o for o in outcomes if o is not None]
            if known and not any(known):
                return False
        return True

    def test(record: dict[str, Any]) -> bool:
        if not query.alternatives:
            return True
        return any(conjunction(groups, record) for groups in query.alternatives)

    return test


def ordered(records: Iterable[dict[str, Any]], order: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    """`records` sorted by each (field, descending) in turn (the first is the main key); stable."""
    rows = list(records)
    for name, descending in reversed(order):
        numeric = all(_number(str(r.get(name) or "")) is not None for r in rows)

        def key(r: dict[str, Any], name: str = name, numeric: bool = numeric) -> Any:
            raw = str(r.get(name) or "")
            return _number(raw) if numeric else raw

        rows.sort(key=key, reverse=descending)
    return rows
