"""Benchmark: sync N seeded tickets (with comments) from a simulator held to a rate limit.

Reports wall time, requests and 429s (counted by the simulator's side of the socket), the
theoretical minimum time under the limit (requests / limit per window, per budget; where the
simulator declares several buckets, the busiest one, since buckets are independent), utilisation =
theoretical / actual, failed requests, and whether the replica equals the simulator's ground truth
(counts + content checksum, computed from the simulator's own state, not through our readers).
"""

from __future__ import annotations

import collections
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.sim import registry
from deskhand.sync import replica
from deskhand.sync.engine import sync_account


class Counter:
    """ASGI wrapper counting requests per endpoint class and responses per status."""

    def __init__(self, app: ASGIApp, classify: Any) -> None:
        self.app = app
        self.classify = classify
        self.lock = threading.Lock()
        self.by_class: collections.Counter[str] = collections.Counter()
        self.by_status: collections.Counter[int] = collections.Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.lock:
            self.by_class[self.classify(scope["method"], scope["path"])] += 1

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start":
                with self.lock:
                    self.by_status[int(message["status"])] += 1
            await send(message)

        await self.app(scope, receive, counting)


def run_sync_bench(provider: str, tickets: int, limit: int, *, window_s: float = 60.0, seed: int = 0,
                   database_url: str | None = None) -> dict[str, Any]:
    """Run the benchmark once; one dict of figures (see the module docstring)."""
    spec = registry.get(provider)
    sim_config = registry.SimConfig(tickets=tickets, seed=seed, rate_limit=limit, window_s=window_s, feed_lag_s=0.0)
    built = spec.build(sim_config)
    counter = Counter(built.app, built.bucket)
    server = registry.RunningSim(spec, sim_config, registry.BuiltSim(counter, built.state, built.close)).start()
    config = spec.connect_to(server)
    tmp = tempfile.mkdtemp(prefix="deskhand-bench-")
    settings = Settings(database_url=database_url or f"sqlite:///{Path(tmp) / 'bench.db'}",
                        secret_key=Fernet.generate_key().decode())
    rt = Runtime.open(settings)
    error = None
    try:
        rt.store.save_account("bench", provider, config, overrides=spec.overrides_to(server))
        started = time.monotonic()
        try:
            stats = sync_account(rt, "bench")
        except Exception as exc:  # reported as a failure, not hidden
            error, stats = repr(exc), None
        wall = time.monotonic() - started
        summary = replica.summary(rt.store.engine, "bench")
    finally:
        rt.close()
        server.stop()
    pairs, deleted, comments = spec.truth(built.state)
    requests = sum(counter.by_class.values())
    per_window = built.window_s
    theoretical = max((n / limit * per_window for n in counter.by_class.values()), default=0.0)
    failed = sum(n for status, n in counter.by_status.items() if status >= 400 and status != 429) + bool(error)
    equal = (summary["tickets"] == len(pairs) and summary["checksum"] == replica.checksum(pairs)
             and summary["comments"] == comments and set(summary["deleted_ids"]) == deleted)
    return {
        "provider": provider,
        "tickets": tickets,
        "comments": comments,
        "limit": limit,
        "window_s": per_window,
        "requests": requests,
        "http_429": counter.by_status.get(429, 0),
        "failed": failed,
        "wall_s": round(wall, 2),
        "theoretical_s": round(theoretical, 2),
        "utilisation": round(theoretical / wall, 3) if wall else 0.0,
        "replica_equal": equal,
        "replica": {k: v for k, v in summary.items() if k != "deleted_ids"},
        "truth_checksum": replica.checksum(pairs),
        "busiest_bucket": counter.by_class.most_common(1)[0][0] if counter.by_class else None,
        "sync": stats.as_dict() if stats else None,
        "error": error,
    }
