"""Linear's rate limits in the simulator (FACTS.md §3.4): two leaky buckets per API key.

- requests: ``limit`` per ``period_s`` (default 5,000 an hour), one per request;
- complexity: 3,000,000 points an hour, each request spends its query's complexity;
- a single query over 10,000 points is refused whatever the buckets hold.

Each bucket refills continuously at limit/period. Answers carry ``X-RateLimit-Requests-Limit /
-Remaining / -Reset``, ``X-RateLimit-Complexity-Limit / -Remaining / -Reset`` and ``X-Complexity``;
resets are **epoch milliseconds** (when the bucket is full again). Throttled: HTTP 400 with
``extensions.code: RATELIMITED`` (no Retry-After).

Complexity: 0.1 per scalar field, 1 per object, a connection's children multiplied by its ``first``
(default 50), rounded up; introspection fields cost nothing.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    value_from_ast_untyped,
)

MAX_QUERY_COMPLEXITY = 10_000


def complexity(schema: GraphQLSchema, doc: DocumentNode, operation: str | None, variables: dict[str, Any]) -> int:
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)
           and (operation is None or (d.name is not None and d.name.value == operation))]
    if not ops:
        return 0
    frags = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    op = ops[0]
    root = schema.mutation_type if op.operation.value == "mutation" else schema.query_type
    return math.ceil(_cost(schema, op.selection_set, root, frags, variables, set()))


def _cost(schema: GraphQLSchema, sel: SelectionSetNode | None, parent: Any, frags: dict[str, FragmentDefinitionNode],
          variables: dict[str, Any], seen: set[str]) -> float:
    total = 0.0
    for node in sel.selections if sel else ():
        if isinstance(node, FragmentSpreadNode):
            frag = frags.get(node.name.value)
            if frag is not None and node.name.value not in seen:
                total += _cost(schema, frag.selection_set, schema.get_type(frag.type_condition.name.value), frags,
                               variables, seen | {node.name.value})
        elif isinstance(node, InlineFragmentNode):
            kind = schema.get_type(node.type_condition.name.value) if node.type_condition else parent
            total += _cost(schema, node.selection_set, kind, frags, variables, seen)
        elif isinstance(node, FieldNode) and not node.name.value.startswith("__"):
            fields = getattr(parent, "fields", {})
            fdef = fields.get(node.name.value)
            if fdef is None:
                continue
            target = get_named_type(fdef.type)
            if node.selection_set is None:
                total += 0.1
                continue
            inner = _cost(schema, node.selection_set, target, frags, variables, seen)
            if target is not None and target.name.endswith("Connection"):
                first = 50
                for arg in node.arguments or ():
                    if arg.name.value in ("first", "last"):
                        value = value_from_ast_untyped(arg.value, variables)
                        first = int(value) if value is not None else 50
                total += 1 + inner * max(first, 1)
            else:
                total += 1 + inner
    return total


@dataclass
class Bucket:
    limit: float
    period_s: float
    level: float = 0.0  # spent, leaking at limit/period
    at: float = 0.0

    def leak(self, now: float) -> None:
        self.level = max(0.0, self.level - (now - self.at) * self.limit / self.period_s)
        self.at = now

    def remaining(self) -> int:
        return max(0, int(self.limit - self.level))

    def reset_ms(self) -> int:
        return int((self.at + self.level * self.period_s / self.limit) * 1000)


@dataclass
class LinearLimits:
    requests: int = 5_000
    points: int = 3_000_000
    period_s: float = 3600.0
    enabled: bool = True
    clock: Callable[[], float] = time.time
    buckets: dict[str, tuple[Bucket, Bucket]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    throttled: int = 0

    def take(self, key: str, cost: int) -> tuple[bool, dict[str, str]]:
        """Spend one request and ``cost`` points of ``key``'s buckets; (allowed, headers)."""
        with self.lock:
            now = self.clock()
            reqs, pts = self.buckets.setdefault(key, (Bucket(self.requests, self.period_s, at=now),
                                                      Bucket(self.points, self.period_s, at=now)))
            reqs.leak(now)
            pts.leak(now)
            allowed = not self.enabled or (reqs.level + 1 <= reqs.limit and pts.level + cost <= pts.limit)
            if allowed:
                reqs.level += 1
                pts.level += cost
            else:
                self.throttled += 1
            return allowed, {
                "x-ratelimit-requests-limit": str(int(reqs.limit)),
                "x-ratelimit-requests-remaining": str(reqs.remaining()),
                "x-ratelimit-requests-reset": str(reqs.reset_ms()),
                "x-ratelimit-complexity-limit": str(int(pts.limit)),
                "x-ratelimit-complexity-remaining": str(pts.remaining()),
                "x-ratelimit-complexity-reset": str(pts.reset_ms()),
                "x-complexity": str(cost)}
