"""``GET /api/v2/search/tickets?query="…"``: Freshdesk's ticket filter language in the simulator.

The query is wrapped in double quotes and made of ``field:value`` terms joined by ``AND``/``OR`` with
parentheses, e.g. ``"(type:'Question' OR type:'Problem') AND priority:3"``; strings are single-quoted,
``null`` matches an empty field, and dates compare by day with ``:>`` (on or after) and ``:<`` (on or
before). Fields: ``agent_id``, ``group_id``, ``priority``, ``status``, ``tag``, ``type``,
``created_at``, ``updated_at``, ``due_by``, ``fr_due_by`` and ``cf_*`` custom fields. 30 results a
page, pages 1–10 (FACTS.md §6.2); deleted and spam tickets are never found.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from deskhand.sim.freshdesk_records import validation

PER_PAGE = 30
MAX_PAGE = 10
MAX_QUERY = 512
FIELDS = {"agent_id": "responder_id", "group_id": "group_id", "priority": "priority", "status": "status",
          "tag": "tags", "type": "type", "created_at": "created_at", "updated_at": "updated_at",
          "due_by": "due_by", "fr_due_by": "fr_due_by"}
_TOKEN = re.compile(r"\s*(?:(\()|(\))|(AND|OR)\b|([a-z_][a-z0-9_]*):([<>]?)('(?:[^'\\]|\\.)*'|[^\s()]+))")
Predicate = Callable[[dict[str, Any]], bool]


def bad_query(message: str) -> Exception:
    return validation(("query", message, "invalid_value"))


def _tokens(text: str) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    pos = 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise bad_query(f"Invalid query near {text[pos:pos + 20]!r}")
        if m.group(1) or m.group(2):
            out.append((m.group(1) or m.group(2),))
        elif m.group(3):
            out.append((m.group(3),))
        else:
            out.append(("term", m.group(4), m.group(5), m.group(6)))
        pos = m.end()
    return out


def _literal(raw: str) -> Any:
    if raw.startswith("'"):
        return raw[1:-1].replace("\\'", "'")
    if raw == "null":
        return None
    if raw in ("true", "false"):
        return raw == "true"
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    raise bad_query(f"Strings must be in single quotes: {raw}")


def _term(name: str, op: str, raw: str) -> Predicate:
    if name not in FIELDS and not name.startswith("cf_"):
        raise bad_query(f"{name} is not a supported field")
    value = _literal(raw)
    key = FIELDS.get(name, name)
    if key in ("created_at", "updated_at", "due_by", "fr_due_by"):
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise bad_query(f"{name} takes a date like '2026-01-31'")
        day = value
        if op == ">":
            return lambda t: (t[key] or "")[:10] >= day
        if op == "<":
            return lambda t: bool(t[key]) and t[key][:10] <= day
        return lambda t: (t[key] or "")[:10] == day
    if op:
        if not isinstance(value, int):
            raise bad_query(f"{name}:{op} takes a number")
        return (lambda t: (t[key] or 0) > value) if op == ">" else (lambda t: (t[key] or 0) < value)

    def read(t: dict[str, Any]) -> Any:
        return t["custom_fields"].get(key) if key.startswith("cf_") else t[key]

    if key == "tags":
        return lambda t: value in t["tags"] if value is not None else not t["tags"]
    return lambda t: read(t) == value


class _Parser:
    def __init__(self, tokens: list[tuple[str, ...]]):
        self.tokens, self.pos = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def expr(self) -> Predicate:  # OR binds looser than AND
        left = self.conj()
        while self.peek() == "OR":
            self.pos += 1
            right = self.conj()
            left = (lambda a, b: lambda t: a(t) or b(t))(left, right)
        return left

    def conj(self) -> Predicate:
        left = self.atom()
        while self.peek() == "AND":
            self.pos += 1
            right = self.atom()
            left = (lambda a, b: lambda t: a(t) and b(t))(left, right)
        return left

    def atom(self) -> Predicate:
        kind = self.peek()
        if kind == "(":
            self.pos += 1
            inner = self.expr()
            if self.peek() != ")":
                raise bad_query("Unbalanced parentheses")
            self.pos += 1
            return inner
        if kind == "term":
            _, name, op, raw = self.tokens[self.pos]
            self.pos += 1
            return _term(name, op, raw)
        raise bad_query("Expected a field:value term")


def compile_query(query: str) -> Predicate:
    """The ticket predicate of a ``query`` parameter (with its double quotes); 400 when invalid."""
    if len(query) < 2 or not (query.startswith('"') and query.endswith('"')):
        raise bad_query("Query should be enclosed within double quotes")
    text = query[1:-1].strip()
    if not text or len(text) > MAX_QUERY:
        raise bad_query(f"It should be a non-empty query of at most {MAX_QUERY} characters")
    parser = _Parser(_tokens(text))
    predicate = parser.expr()
    if parser.peek() is not None:
        raise bad_query("Unexpected text after the query")
    return predicate


def search_page(tickets: list[dict[str, Any]], query: str, page: int) -> dict[str, Any]:
    """One page of results: ``{"results": [...], "total": N}`` (newest first); 400 past page 10."""
    if page < 1 or page > MAX_PAGE:
        raise validation(("page", f"It should be a Positive Number less than or equal to {MAX_PAGE}",
                          "invalid_value"))
    predicate = compile_query(query)
    found = [t for t in tickets if not t["_deleted"] and not t["spam"] and predicate(t)]
    found.sort(key=lambda t: (t["_created"], t["id"]), reverse=True)
    return {"results": found[(page - 1) * PER_PAGE: page * PER_PAGE], "total": len(found)}
