"""Zendesk search query language (the subset deskhand and its users need) over the simulator state.

Supported terms: ``type:ticket|user|group|organization``, ``status:X`` and ``status<X`` / ``>`` /
``<=`` / ``>=`` (ordered new < open < pending < hold < solved < closed), ``tags:``/``tag:``,
``subject:``, ``description:``, ``requester:``, ``submitter:``, ``assignee:`` (id, email, name,
``none``, ``me``), ``group:`` (id, name, ``none``), ``priority:`` (with comparisons),
``ticket_type:``, ``created``/``updated`` with ``:``/``<``/``>`` and a date (``2024-04-17``), an ISO
time or a relative age (``4hours``, ``2days``, ``30minutes``); a leading ``-`` negates a term; other
words (or ``"quoted phrases"``) must all appear in subject + description (case-insensitive).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from deskhand.sim.zendesk_state import PRIORITIES, STATUSES, ZendeskError, ZendeskState

TERM = re.compile(r"^(?P<neg>-?)(?P<key>[a-z_]+)(?P<op><=|>=|:|<|>)(?P<value>.+)$")
RANK = {"status": {s: i for i, s in enumerate(STATUSES)},
        "priority": {p: i for i, p in enumerate(reversed(PRIORITIES))}}
UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400,
         "week": 604800, "weeks": 604800, "month": 2_592_000, "months": 2_592_000}
Predicate = Callable[[dict[str, Any]], bool]


def _when(value: str, now: float) -> float:
    rel = re.fullmatch(r"(\d+)([a-z]+)", value)
    if rel and rel.group(2) in UNITS:
        return now - int(rel.group(1)) * UNITS[rel.group(2)]
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ZendeskError(400, {"error": "InvalidSearch", "description": f"Invalid date: {value}"}) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _compare(op: str, left: float, right: float) -> bool:
    return {":": left == right, "<": left < right, ">": left > right,
            "<=": left <= right, ">=": left >= right}[op]


def _time_term(field: str, op: str, value: str, now: float) -> Predicate:
    at = _when(value, now)
    if op == ":" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):  # whole day
        return lambda t: at <= t[field] < at + 86400
    return lambda t: _compare(op, t[field], at)


def _ids_term(field: str, ids: list[int | None]) -> Predicate:
    return lambda t: t.get(field) in ids


def _term(state: ZendeskState, key: str, op: str, value: str, me: int, now: float) -> Predicate:
    low = value.lower()
    if key in RANK:
        ranks = RANK[key]
        if op == ":":
            return lambda t: (t[key] or "none") == low
        if low not in ranks:
            raise ZendeskError(400, {"error": "InvalidSearch", "description": f"Invalid {key}: {value}"})
        return lambda t: t[key] in ranks and _compare(op, ranks[t[key]], ranks[low])
    if key in ("created", "updated"):
        return _time_term("_created" if key == "created" else "_updated", op, value, now)
    if key in ("tags", "tag"):
        return lambda t: low in t["tags"]
    if key in ("subject", "description"):
        return lambda t: low in (t[key] or "").lower()
    if key in ("ticket_type",):
        return lambda t: (t["type"] or "none") == low
    if key in ("requester", "submitter", "assignee"):
        if low == "none":
            return _ids_term(f"{key}_id", [None])
        return _ids_term(f"{key}_id", [me] if low == "me" else list(state.find_user(low)))
    if key == "group":
        return _ids_term("group_id", [None] if low == "none" else list(state.find_group(low)))
    if key == "organization":
        return lambda t: str(t["organization_id"]) == low
    raise ZendeskError(400, {"error": "InvalidSearch", "description": f"Unsupported search term {key}"})


def parse(query: str, state: ZendeskState, me: int) -> tuple[str, list[Predicate], list[str]]:
    """``query`` → (result type, ticket predicates, free-text words)."""
    now = state.clock()
    kind, predicates, words = "ticket", [], []
    try:
        tokens = shlex.split(query)
    except ValueError:
        tokens = query.split()
    for token in tokens:
        match = TERM.match(token)
        if not match:
            words.append(token.lower())
            continue
        key, op, value = match["key"], match["op"], match["value"]
        if key == "type":
            kind = value.lower()
            continue
        pred = _term(state, key, op, value, me, now)
        predicates.append((lambda p: lambda t: not p(t))(pred) if match["neg"] else pred)
    return kind, predicates, words


SORT_KEYS = {"created_at": "_created", "updated_at": "_updated", "priority": "priority",
             "status": "status", "ticket_type": "type"}


def search(state: ZendeskState, query: str, me: int, sort_by: str | None = None,
           sort_order: str = "desc") -> list[tuple[str, dict[str, Any]]]:
    """All matches as ``(result_type, record)`` pairs, sorted (default: by id ascending)."""
    kind, predicates, words = parse(query, state, me)
    with state.lock:
        if kind == "user":
            users = [u for u in state.users.values()
                     if all(w in f"{u['name']} {u['email']}".lower() for w in words)]
            return [("user", u) for u in sorted(users, key=lambda u: u["id"])]
        if kind in ("group", "organization"):
            records = state.groups if kind == "group" else state.organizations
            found = [r for r in records.values() if all(w in r["name"].lower() for w in words)]
            return [(kind, r) for r in sorted(found, key=lambda r: r["id"])]
        tickets = [t for t in state.tickets.values()
                   if all(p(t) for p in predicates)
                   and all(w in f"{t['subject']} {t['description']}".lower() for w in words)]
    if sort_by in SORT_KEYS:
        field = SORT_KEYS[sort_by]
        ranks = RANK.get(field, {})
        tickets.sort(key=lambda t: (ranks.get(t[field], -1) if ranks else (t[field] or ""), t["id"]),
                     reverse=sort_order != "asc")
    else:
        tickets.sort(key=lambda t: t["id"])
    return [("ticket", t) for t in tickets]
