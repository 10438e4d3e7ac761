"""The ASGI gateway: signed webhooks in, durable events out; health; a small read API.

A webhook is answered 2xx only after its events and their jobs are committed. Everything that can
be wrong with a request is answered before anything is written: unknown account → 404, signature
missing / wrong / stale → 401, signed but unreadable payload → 400, store unavailable → 503 (so the
provider retries later).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from deskhand import __version__
from deskhand.errors import ConfigError, PayloadError, SignatureError
from deskhand.gateway.dedupe import Deduper, open_deduper
from deskhand.gateway.metrics import add_metrics_route
from deskhand.queue import PRIORITY_EVENT
from deskhand.runtime import Runtime
from deskhand.store import AccountRecord

log = logging.getLogger(__name__)


class AccountCache:
    """Accounts as the gateway last read them, for `ttl_s` seconds: a burst of webhooks for one
    account costs one read and one decryption, not one per delivery. A changed webhook secret is
    seen within `ttl_s`."""

    def __init__(self, rt: Runtime, ttl_s: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.rt, self.ttl_s, self.clock = rt, ttl_s, clock
        self._rows: dict[str, tuple[float, AccountRecord | None]] = {}

    def find(self, name: str) -> AccountRecord | None:
        now = self.clock()
        cached = self._rows.get(name)
        if cached and now - cached[0] < self.ttl_s:
            return cached[1]
        account = self.rt.store.find_account(name)
        self._rows[name] = (now, account)
        return account


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def create_app(rt: Runtime, *, workers: int = 0, sync_interval_s: float = 0.0) -> FastAPI:
    """The gateway. With `workers` > 0 it also runs that many worker threads in-process; with
    `sync_interval_s` > 0, an incremental sync of every account at that interval (deskhand.sync.loop)."""
    stop = threading.Event()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        threads = []
        if workers:
            from deskhand.responder.worker import start_workers

            threads = start_workers(rt, workers, stop)
        if sync_interval_s > 0:
            from deskhand.sync.loop import start_sync_loop

            threads.append(start_sync_loop(rt, sync_interval_s, stop))
        yield
        stop.set()
        for th in threads:
            th.join(timeout=30)

    app = FastAPI(title="deskhand", version=__version__, lifespan=lifespan)
    app.state.rt = rt
    add_metrics_route(app, rt)  # GET /metrics (Prometheus)
    app.state.dedupe = dedupe = open_deduper(rt.settings.redis_url)
    app.state.accounts = accounts = AccountCache(rt)

    @app.get("/healthz")
    def health() -> JSONResponse:
        try:
            counts = rt.queue.counts()
        except SQLAlchemyError as exc:
            return _error(503, "store_unavailable", str(exc.__class__.__name__))
        return JSONResponse({"status": "ok", "version": __version__, "jobs": counts})

    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()
        provider, account = request.path_params["provider"], request.path_params["account"]
        headers = dict(request.headers)
        return await run_in_threadpool(_receive, rt, provider, account, headers, body, dedupe, accounts)

    # a plain Starlette route: the hot path skips FastAPI's per-request dependency solving
    app.add_route("/webhooks/{provider}/{account}", webhook, methods=["POST"], include_in_schema=False)

    @app.get("/api/decisions")
    def decisions(
        account: str | None = None, ticket: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        rows = rt.store.list_decisions(account=account, ticket_id=ticket, limit=min(limit, 500))
        return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in rows]

    return app


def _receive(
    rt: Runtime,
    provider: str,
    account_name: str,
    headers: dict[str, str],
    body: bytes,
    dedupe: Deduper | None = None,
    accounts: AccountCache | None = None,
) -> JSONResponse:
    try:
        account = accounts.find(account_name) if accounts else rt.store.find_account(account_name)
    except SQLAlchemyError as exc:  # refused, reset, closed mid-restart: all mean "retry later"
        log.error("webhook for %s: store unavailable: %s", account_name, exc.__class__.__name__)
        return _error(503, "store_unavailable", "the store is unavailable; retry later")
    if account is None or account.provider != provider:
        return _error(404, "unknown_account", f"no {provider} account named {account_name!r}")
    try:
        connector = rt.connector(account)
        connector.verify_webhook(headers, body)
    except SignatureError as exc:
        log.warning("webhook rejected account=%s: %s", account_name, exc)
        return _error(401, "bad_signature", str(exc))
    except ConfigError as exc:
        return _error(401, "not_configured", str(exc))
    try:
        events = connector.parse_webhook(headers, body)
    except PayloadError as exc:
        return _error(400, "bad_payload", str(exc))
    known = dedupe.claim(account_name, [e.delivery_id for e in events]) if dedupe else set()
    fresh = [e for e in events if e.delivery_id not in known]
    accepted, duplicates = [], len(events) - len(fresh)
    if not fresh:  # nothing to record (ignored, or every delivery known to Redis as committed)
        return JSONResponse({"accepted": [], "duplicates": duplicates, "ignored": len(events) == 0})
    try:
        with rt.store.transaction() as conn:
            for event in fresh:
                event_id = rt.store.record_event(conn, account.tenant_id, event)
                if event_id is None:
                    duplicates += 1
                    continue
                rt.queue.enqueue(
                    conn,
                    "handle_event",
                    {"event_id": event_id},
                    dedupe_key=f"event:{event_id}",
                    priority=PRIORITY_EVENT,
                )
                accepted.append(event_id)
    except SQLAlchemyError as exc:
        log.error("webhook for %s not stored: %s", account_name, exc.__class__.__name__)
        return _error(503, "store_unavailable", "the event could not be stored; retry later")
    if dedupe:
        dedupe.remember(account_name, [e.delivery_id for e in fresh])
    log.info("webhook account=%s events=%s duplicates=%d", account_name, accepted, duplicates)
    return JSONResponse({"accepted": accepted, "duplicates": duplicates, "ignored": len(events) == 0})
