"""A JQL index over one snapshot of items: the answers of `jql.search`, cheap when asked again.

What a search backend does instead of evaluating every clause against every issue per request:

- a clause's answer is a set of item positions, cached for the snapshot (context-free clauses; a
  ``currentUser()`` clause per user);
- date clauses (``updated >= X``, ``created < -7d``, ``resolved = EMPTY``) are ranges of a column
  sorted by that field (binary search), so the sync's ``updated >= X ORDER BY updated`` shape costs a
  bisect, not a scan;
- AND / OR / NOT are set algebra on those answers (exactly the boolean evaluator's semantics);
- the complete order of all items for an ORDER BY is computed once per snapshot (with `jql.order`,
  stable, so restricting it to the matching set gives the very order `jql.search` gives);
- a whole query's result is kept while it cannot change (no ``now``-relative date), so paging the
  same JQL with ``nextPageToken`` does not re-run it.

The snapshot is immutable by contract: the owner builds a new Index when its items change (the Jira
simulator keys its index on its change stamp).
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from deskhand.sim.jql import (
    DATE_FIELDS,
    Clause,
    Context,
    Expr,
    Facts,
    OrderKey,
    Query,
    clause_matches,
    contextual,
    date_bound,
    order,
)

T = TypeVar("T")
_DATE_OPS = {"=", "!=", ">", ">=", "<", "<="}


@dataclass(frozen=True)
class _Column:
    """One date field: positions sorted by value (`keys` parallel), and where it is empty."""

    keys: list[Any]
    positions: list[int]
    missing: frozenset[int]
    present: frozenset[int]


class Index(Generic[T]):
    """`search(query, ctx)` == `jql.search(query, items, facts_of, ctx)`, for a fixed `items`."""

    def __init__(self, items: Iterable[T], facts_of: Callable[[T], Facts], *, cache_size: int = 64) -> None:
        self.items: list[T] = list(items)
        self._facts_of = facts_of
        self._facts: dict[int, Facts] = {}
        self._all = frozenset(range(len(self.items)))
        self._columns: dict[str, _Column | None] = {}
        self._clauses: OrderedDict[tuple[Clause, str | None], frozenset[int]] = OrderedDict()
        self._orders: dict[tuple[OrderKey, ...], tuple[list[int], list[int]]] = {}
        self._results: OrderedDict[tuple[Query, str | None], list[int]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.RLock()
        self.stats = {"searches": 0, "result_hits": 0, "clause_scans": 0}

    def facts(self, position: int) -> Facts:
        found = self._facts.get(position)
        if found is None:
            found = self._facts[position] = self._facts_of(self.items[position])
        return found

    def search(self, query: Query, ctx: Context) -> list[T]:
        """Matching items in the query's order (insertion order without ORDER BY), a new list."""
        return [self.items[p] for p in self.positions(query, ctx)]

    def positions(self, query: Query, ctx: Context) -> list[int]:
        with self._lock:
            self.stats["searches"] += 1
            key = _result_key(query, ctx)
            if key is not None and key in self._results:
                self._results.move_to_end(key)
                self.stats["result_hits"] += 1
                return list(self._results[key])
            matched = self._all if query.where is None else self._eval(query.where, ctx)
            found = self._ordered(matched, query.order_by)
            if key is not None:
                _remember(self._results, key, found, self._cache_size)
            return list(found)

    # -- where ---------------------------------------------------------------------------------
    def _eval(self, node: Expr, ctx: Context) -> frozenset[int]:
        if isinstance(node, Clause):
            return self._clause(node, ctx)
        if node.op == "not":
            return self._all - self._eval(node.items[0], ctx)
        parts = [self._eval(item, ctx) for item in node.items]
        if node.op == "and":
            return frozenset.intersection(*sorted(parts, key=len))
        return frozenset().union(*parts)

    def _clause(self, clause: Clause, ctx: Context) -> frozenset[int]:
        if clause.field in DATE_FIELDS and clause.op in _DATE_OPS:
            column = self._column(clause.field)
            if column is not None:
                return _date_range(column, clause, ctx)
        key = (clause, ctx.current_user if contextual(clause) else None)
        cacheable = not (clause.field in DATE_FIELDS and contextual(clause))
        if cacheable and key in self._clauses:
            self._clauses.move_to_end(key)
            return self._clauses[key]
        self.stats["clause_scans"] += 1
        found = frozenset(p for p in range(len(self.items)) if clause_matches(clause, self.facts(p), ctx))
        if cacheable:
            _remember(self._clauses, key, found, self._cache_size)
        return found

    def _column(self, name: str) -> _Column | None:
        if name not in self._columns:
            values = [(self.facts(p).get(name), p) for p in range(len(self.items))]
            present = [(v, p) for v, p in values if v is not None]
            try:
                present.sort(key=lambda vp: vp[0])  # stable: equal values keep insertion order
            except TypeError:  # values that do not compare (not one kind of date): scan instead
                self._columns[name] = None
                return None
            self._columns[name] = _Column(
                keys=[v for v, _ in present], positions=[p for _, p in present],
                missing=frozenset(p for v, p in values if v is None), present=frozenset(p for _, p in present),
            )
        return self._columns[name]

    # -- order ---------------------------------------------------------------------------------
    def _ordered(self, matched: frozenset[int], keys: tuple[OrderKey, ...]) -> list[int]:
        if not keys:
            return sorted(matched)
        if keys not in self._orders:
            full = order(list(range(len(self.items))), Query(None, keys), self.facts)
            rank = [0] * len(full)
            for at, position in enumerate(full):
                rank[position] = at
            self._orders[keys] = (full, rank)
        full, rank = self._orders[keys]
        if len(matched) * 8 < len(full):
            return sorted(matched, key=rank.__getitem__)
        return [p for p in full if p in matched]


def _date_range(column: _Column, clause: Clause, ctx: Context) -> frozenset[int]:
    """`jql`'s date clause as a range of the sorted column (empty values never compare)."""
    value, op = clause.values[0], clause.op
    if value.kind == "empty":
        return column.missing if op == "=" else column.present
    when = date_bound(clause, ctx)
    low, high = bisect_left(column.keys, when), bisect_right(column.keys, when)
    pos = column.positions
    slices = {">=": pos[low:], ">": pos[high:], "<": pos[:low], "<=": pos[:high], "=": pos[low:high],
              "!=": pos[:low] + pos[high:]}
    return frozenset(slices[op])


def _result_key(query: Query, ctx: Context) -> tuple[Query, str | None] | None:
    """A query's result can be kept unless a date in it is relative to now."""
    clauses: Sequence[Clause] = list(query.clauses())
    if any(c.field in DATE_FIELDS and contextual(c) for c in clauses):
        return None
    return query, (ctx.current_user if any(contextual(c) for c in clauses) else None)


def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any, size: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)

