"""Benchmark: sync N seeded tickets (with comments) from a simulator held to a rate limit.

Reports wall time, requests and 429s (counted by the simulator's side of the socket), the
theoretical minimum time under the limit (requests / limit per window, per budget; for Jira the
busiest endpoint bucket, since buckets are independent), utilisation = theoretical / actual, failed
requests, and whether the replica equals the simulator's ground truth (counts + content checksum,
computed from the simulator's own state, not through our readers).
"""

from __future__ import annotations

import collections
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deskhand.providers.adf import adf_to_text
from deskhand.providers.records import to_datetime
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.sim.base import SimServer
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


def _ticket_truth(tid: str, subject: str, status: str, tags: list[str], updated: Any,
                  comments: list[dict[str, Any]]) -> tuple[str, str]:
    fields = {"id": tid, "subject": subject, "raw_status": status, "tags": sorted(tags),
              "updated_at": replica.iso(to_datetime(updated))}
    return tid, replica.ticket_hash(fields, comments)


def zendesk_truth(state: Any) -> tuple[list[tuple[str, str]], set[str], int]:
    with state.lock:
        pairs = [
            _ticket_truth(str(t["id"]), t["subject"], t["status"], t["tags"], t["updated_at"],
                          [{"id": str(c["id"]), "body": c["body"], "public": bool(c["public"])}
                           for c in state.comments[t["id"]]])
            for t in state.tickets.values()
        ]
        comments = sum(len(state.comments[t]) for t in state.tickets)
        return pairs, {str(i) for i in state.deleted}, comments


def jira_truth(state: Any) -> tuple[list[tuple[str, str]], set[str], int]:
    with state.lock:
        pairs = [
            _ticket_truth(i.key, i.summary, i.status_obj.name, list(i.labels), i.updated,
                          [{"id": c.id, "body": adf_to_text(c.body), "public": not c.internal} for c in i.comments])
            for i in state.issues.values()
        ]
        return pairs, set(), sum(len(i.comments) for i in state.issues.values())


def _zendesk(tickets: int, limit: int, window_s: float, seed: int) -> tuple[SimServer, Counter, dict[str, Any]]:
    from deskhand.sim import zendesk
    from deskhand.sim.zendesk_state import ZendeskState

    state = ZendeskState(admin_email=zendesk.DEFAULT_EMAIL)
    state.seed_tickets(tickets, random.Random(seed))
    app = zendesk.create_app(state, rate_limit=limit, window_s=window_s, incremental_lag_s=0.0)
    counter = Counter(app, lambda method, path: "account")
    server = SimServer(counter).start()
    config = {"subdomain": "sim", "email": zendesk.DEFAULT_EMAIL, "api_token": zendesk.DEFAULT_TOKEN,
              "base_url": server.url}
    return server, counter, {"state": state, "config": config, "truth": zendesk_truth, "window_s": window_s}


def _jira(tickets: int, limit: int, seed: int) -> tuple[SimServer, Counter, dict[str, Any]]:
    from deskhand.sim import jira
    from deskhand.sim.jira_limits import RateLimits, endpoint_class
    from deskhand.sim.jira_seed import seed_issues
    from deskhand.sim.jira_state import DEFAULT_EMAIL, DEFAULT_TOKEN, JiraState

    state = JiraState.default()
    seed_issues(state, tickets, random.Random(seed), now=time.time())
    limits = RateLimits(burst={"GET": limit, "POST": limit, "PUT": limit, "DELETE": limit}, overrides={})
    app = jira.create_app(state, rate_limits=limits)
    counter = Counter(app, endpoint_class)
    server = SimServer(counter).start()
    config = {"site": "sim", "email": DEFAULT_EMAIL, "api_token": DEFAULT_TOKEN, "base_url": server.url}
    return server, counter, {"state": state, "config": config, "truth": jira_truth, "window_s": 1.0}


def run_sync_bench(provider: str, tickets: int, limit: int, *, window_s: float = 60.0, seed: int = 0,
                   database_url: str | None = None) -> dict[str, Any]:
    """Run the benchmark once; one dict of figures (see the module docstring)."""
    if provider == "zendesk":
        server, counter, ctx = _zendesk(tickets, limit, window_s, seed)
    elif provider == "jira":
        server, counter, ctx = _jira(tickets, limit, seed)
    else:
        raise ValueError(f"no sync benchmark for provider {provider!r} (zendesk | jira)")
    tmp = tempfile.mkdtemp(prefix="deskhand-bench-")
    settings = Settings(database_url=database_url or f"sqlite:///{Path(tmp) / 'bench.db'}",
                        secret_key=Fernet.generate_key().decode())
    rt = Runtime.open(settings)
    error = None
    try:
        rt.store.save_account("bench", provider, ctx["config"])
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
    pairs, deleted, comments = ctx["truth"](ctx["state"])
    requests = sum(counter.by_class.values())
    per_window = ctx["window_s"]
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
