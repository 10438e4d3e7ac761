"""Group commit for the gateway: one writer thread records every waiting webhook in one transaction.

Why not one transaction per request on the thread pool (what the gateway did first): each webhook
then paid its own BEGIN/COMMIT, a pooled connection (on PostgreSQL also its liveness ping) and two
thread hand-offs, and under load more threads wanted connections than the pool kept, so the pool
opened and closed an overflow connection for nearly every request. At 500 webhooks/s on 2 cores the
PostgreSQL gateway fell from milliseconds to seconds of latency (774 new PostgreSQL sessions in 5 s
of load). Here the event loop verifies and parses each request and hands its events to the writer,
which takes everything waiting (up to `max_batch` requests), writes their events and jobs in one
transaction, commits, and only then answers each request, with one wake-up of the event loop per
batch. One connection, one commit and one fsync serve the whole batch; a busier gateway makes bigger
batches instead of more connections.

Nothing acknowledged is lost: a request is answered 2xx only after the transaction holding its event
has committed. A process killed before that answers nothing, and the provider retries.

Failures: a store that is unreachable or was restarted answers every request of the batch 503 (the
provider retries). Any other database error fails only its own request: the batch is written again
one request per transaction. When more than `max_waiting` requests wait, new ones are answered 503
at once (load shedding with `Retry-After`, rather than a queue that grows without bound).

The thread starts on the first request and ends after `idle_s` without any, so an app that is never
shut down (a test client) leaves no thread behind for long; `close()` drains what waits and stops it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from deskhand.gateway.dedupe import Deduper
from deskhand.model import Event
from deskhand.queue import PRIORITY_EVENT
from deskhand.queue.sql import MAX_ATTEMPTS
from deskhand.runtime import Runtime
from deskhand.store import AccountRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Recorded:
    """What became of one request's events: new event ids, duplicates, or why nothing was stored."""

    accepted: list[int] = field(default_factory=list)
    duplicates: int = 0
    error: str | None = None  # "store_unavailable" | "overloaded": answer 503


@dataclass(slots=True)
class _Request:
    account: AccountRecord
    events: Sequence[Event]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Recorded]


class Ingest:
    """The gateway's writer: `await ingest.record(account, events)` returns once they are committed."""

    def __init__(
        self,
        rt: Runtime,
        dedupe: Deduper | None = None,
        *,
        max_batch: int = 256,
        max_waiting: int = 10_000,
        idle_s: float = 30.0,
    ) -> None:
        self.rt, self.dedupe = rt, dedupe
        self.max_batch, self.max_waiting, self.idle_s = max_batch, max_waiting, idle_s
        self._waiting: deque[_Request] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._conn: Connection | None = None  # the writer's own connection, kept between batches
        self._checkpoints: Checkpoints | None = None
        self.batches = 0  # committed batches and the requests they held (read by the tests)
        self.requests = 0

    async def record(self, account: AccountRecord, events: Sequence[Event]) -> Recorded:
        loop = asyncio.get_running_loop()
        request = _Request(account, events, loop, loop.create_future())
        with self._cond:
            if len(self._waiting) >= self.max_waiting:
                return Recorded(error="overloaded")
            self._waiting.append(request)
            if self._thread is None:
                self._closing = False
                self._thread = threading.Thread(target=self._run, name="deskhand-ingest", daemon=True)
                self._thread.start()
            self._cond.notify()
        # shielded: a client that hangs up must not cancel what the writer will still commit
        return await asyncio.shield(request.future)

    def close(self, timeout_s: float = 30.0) -> None:
        """Write what is waiting, then stop the writer."""
        with self._cond:
            self._closing = True
            thread = self._thread
            self._cond.notify()
        if thread is not None:
            thread.join(timeout_s)

    # -- the writer thread -------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._waiting:
                    # closing, or idle for idle_s, and nothing came in meanwhile: stop
                    if (self._closing or not self._cond.wait(self.idle_s)) and not self._waiting:
                        self._thread = None
                        self._drop_connection()
                        return
                n = min(len(self._waiting), self.max_batch)
                batch = [self._waiting.popleft() for _ in range(n)]
            fresh: list[list[Event]] | None = None
            try:
                fresh = self._not_known(batch)
                outcomes = self._write(batch, fresh)
            except Exception:  # never leave a request unanswered, never let the writer die
                log.exception("ingest: a batch of %d webhooks failed", len(batch))
                outcomes = [Recorded(error="store_unavailable")] * len(batch)
            _answer(batch, outcomes)
            if fresh is not None:  # after the answers: it only spares later duplicates a trip to the store
                self._remember(batch, fresh, outcomes)

    def _write(self, batch: list[_Request], fresh: list[list[Event]]) -> list[Recorded]:
        todo = [i for i, events in enumerate(fresh) if events]
        outcomes = [Recorded(duplicates=len(r.events)) for r in batch]  # all known to Redis
        if not todo:
            return outcomes
        try:
            try:
                recorded = self._insert_batch([batch[i] for i in todo], [fresh[i] for i in todo])
            except SQLAlchemyError as exc:
                if not _unreachable(exc):
                    raise
                # the kept connection may have died with a database restart while idle: once more on a
                # fresh one from the pool (its checkout pings the server) before answering 503
                recorded = self._insert_batch([batch[i] for i in todo], [fresh[i] for i in todo])
            for i, outcome in zip(todo, recorded, strict=True):
                outcomes[i] = outcome
        except SQLAlchemyError as exc:
            if _unreachable(exc) or len(todo) == 1:
                log.error("webhooks not stored (%d requests): %s", len(todo), exc.__class__.__name__)
                for i in todo:
                    outcomes[i] = Recorded(error="store_unavailable")
                return outcomes
            log.warning("a batch of %d webhooks failed (%s): writing them one by one", len(todo), exc)
            for i in todo:
                outcomes[i] = self._write_one(batch[i], fresh[i])
        else:
            self.batches += 1
            self.requests += len(todo)
        return outcomes

    def _write_one(self, request: _Request, fresh: list[Event]) -> Recorded:
        try:
            return self._insert_batch([request], [fresh])[0]
        except SQLAlchemyError as exc:
            log.error("webhook for %s not stored: %s", request.account.name, exc.__class__.__name__)
            return Recorded(error="store_unavailable")

    def _insert_batch(self, requests: list[_Request], fresh: list[list[Event]]) -> list[Recorded]:
        """One transaction on the writer's kept connection: no pool checkout and no liveness ping per
        batch. A connection that failed is dropped; the next batch takes a fresh one from the pool."""
        if self._conn is None:
            conn = self.rt.store.engine.connect()
            if conn.dialect.name == "postgresql":  # one statement per batch: it is its own transaction
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            elif conn.dialect.name == "sqlite":  # WAL checkpoints off this thread (see Checkpoints)
                conn.connection.dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")  # type: ignore[union-attr]
                self._checkpoints = Checkpoints(self.rt.store.engine)
            self._conn = conn
        try:
            with self._conn.begin():
                return self._insert(self._conn, requests, fresh)
        except BaseException:
            self._drop_connection()
            raise

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        checkpoints, self._checkpoints = self._checkpoints, None
        if checkpoints is not None:
            checkpoints.stop()
        if conn is not None:
            try:
                if conn.dialect.name == "sqlite":  # back in the pool, it checkpoints as usual again
                    conn.connection.dbapi_connection.execute("PRAGMA wal_autocheckpoint=1000")  # type: ignore[union-attr]
                conn.close()
            except (SQLAlchemyError, sqlite3.Error):  # already broken: the pool discards it
                pass

    def _insert(self, conn: Connection, requests: list[_Request], fresh: list[list[Event]]) -> list[Recorded]:
        """Every request's fresh events and their jobs: on PostgreSQL one statement (it commits by
        itself on the writer's autocommit connection: one round trip per batch instead of four),
        elsewhere one multi-row INSERT for the events and one for their jobs."""
        rows = [(r.account.tenant_id, e) for r, events in zip(requests, fresh, strict=True) for e in events]
        on_pg = conn.dialect.name == "postgresql"
        if on_pg:
            ids = iter(_record_and_enqueue_pg(conn, rows, self.rt.queue.clock()))
        else:
            ids = iter(self.rt.store.record_events(conn, rows))
        outcomes = []
        for r, events in zip(requests, fresh, strict=True):
            accepted = [i for i in (next(ids) for _ in events) if i is not None]
            outcomes.append(Recorded(accepted, len(r.events) - len(accepted)))
            log.debug("webhook account=%s events=%s duplicates=%d", r.account.name, accepted, outcomes[-1].duplicates)
        if not on_pg:
            jobs = [({"event_id": i}, f"event:{i}") for o in outcomes for i in o.accepted]
            self.rt.queue.enqueue_many(conn, "handle_event", jobs, priority=PRIORITY_EVENT)
        return outcomes

    # -- Redis duplicate suppression, one pipeline per account and batch ---------------------
    def _not_known(self, batch: list[_Request]) -> list[list[Event]]:
        """Each request's events that Redis does not already know as committed."""
        if self.dedupe is None:
            return [list(r.events) for r in batch]
        by_account: dict[str, list[str]] = defaultdict(list)
        for r in batch:
            by_account[r.account.name].extend(e.delivery_id for e in r.events)
        known = {name: self.dedupe.claim(name, ids) for name, ids in by_account.items()}
        return [[e for e in r.events if e.delivery_id not in known[r.account.name]] for r in batch]

    def _remember(self, batch: list[_Request], fresh: list[list[Event]], outcomes: list[Recorded]) -> None:
        if self.dedupe is None:
            return
        by_account: dict[str, list[str]] = defaultdict(list)
        for r, events, outcome in zip(batch, fresh, outcomes, strict=True):
            if outcome.error is None:
                by_account[r.account.name].extend(e.delivery_id for e in events)
        for name, ids in by_account.items():
            self.dedupe.remember(name, ids)


# The events of a batch and their handle_event jobs in one PostgreSQL statement, with the same rows
# and conflict rules as Store.record_events + SqlQueue.enqueue_many (the SQLite path, and the tests
# that run on both backends, hold the two to the same answers). Arrays keep the statement the same
# whatever the batch's size, so it is parsed and planned once per connection.
_PG_RECORD_AND_ENQUEUE = text("""
WITH e AS (
  INSERT INTO events (tenant_id, account, provider, kind, ticket_id, delivery_id, comment_id, author_id,
                      occurred_at, received_at, payload)
  SELECT r.tenant_id, r.account, r.provider, r.kind, r.ticket_id, r.delivery_id, r.comment_id, r.author_id,
         r.occurred_at, :received_at, CAST(r.payload AS json)
  FROM unnest(CAST(:tenant_id AS text[]), CAST(:account AS text[]), CAST(:provider AS text[]),
              CAST(:kind AS text[]), CAST(:ticket_id AS text[]), CAST(:delivery_id AS text[]),
              CAST(:comment_id AS text[]), CAST(:author_id AS text[]), CAST(:occurred_at AS timestamptz[]),
              CAST(:payload AS text[]))
       AS r(tenant_id, account, provider, kind, ticket_id, delivery_id, comment_id, author_id, occurred_at, payload)
  ON CONFLICT (account, delivery_id) DO NOTHING
  RETURNING id, account, delivery_id
), j AS (
  INSERT INTO jobs (kind, dedupe_key, payload, status, priority, attempts, max_attempts, run_at, created_at,
                    updated_at)
  SELECT 'handle_event', 'event:' || e.id, json_build_object('event_id', e.id), 'queued', :priority, 0,
         :max_attempts, :now, :now, :now
  FROM e
  ON CONFLICT (dedupe_key) DO NOTHING
)
SELECT id, account, delivery_id FROM e
""")


def _record_and_enqueue_pg(conn: Connection, rows: Sequence[tuple[str, Event]], now: float) -> list[int | None]:
    """Each row's new event id, or None for a duplicate delivery (stored before, or earlier in `rows`)."""
    events = [e for _, e in rows]
    params = {
        "tenant_id": [tenant for tenant, _ in rows],
        "account": [e.account for e in events],
        "provider": [e.provider for e in events],
        "kind": [e.kind.value for e in events],
        "ticket_id": [e.ticket_id for e in events],
        "delivery_id": [e.delivery_id for e in events],
        "comment_id": [e.comment_id for e in events],
        "author_id": [e.author_id for e in events],
        "occurred_at": [e.occurred_at for e in events],
        "payload": [json.dumps(e.payload) for e in events],
        "received_at": datetime.now(UTC),
        "priority": PRIORITY_EVENT,
        "max_attempts": MAX_ATTEMPTS,
        "now": now,
    }
    new = {(r.account, r.delivery_id): int(r.id) for r in conn.execute(_PG_RECORD_AND_ENQUEUE, params)}
    return [new.pop((e.account, e.delivery_id), None) for e in events]


class Checkpoints:
    """SQLite WAL checkpoints for the writer, on a thread of their own (PASSIVE, every `every_s`).

    Why: SQLite checkpoints automatically inside the commit that fills the WAL past 1,000 pages, and
    that commit then waits while pages are copied and the database file is synced: at 500 webhooks/s
    the writer stalled for ~15 ms every half second, the gateway's p99. A PASSIVE checkpoint never
    waits for readers or writers, so the writer's commits go on meanwhile."""

    def __init__(self, engine: Engine, every_s: float = 0.5) -> None:
        self.engine, self.every_s = engine, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deskhand-checkpoints", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        raw = self.engine.raw_connection()
        try:
            while not self._stop.wait(self.every_s):
                self._checkpoint(raw)
            self._checkpoint(raw)
        finally:
            raw.close()

    @staticmethod
    def _checkpoint(raw: Any) -> None:
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # busy or closing: the next round tries again
            log.debug("wal checkpoint skipped: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(10)


def _unreachable(exc: SQLAlchemyError) -> bool:
    """The store is down or the connection broke (retrying row by row would only wait longer)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError | InterfaceError | PoolTimeout | DisconnectionError)


def _answer(batch: list[_Request], outcomes: list[Recorded]) -> None:
    """Settle each request's future on its own event loop: one wake-up per loop and batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Recorded], Recorded]]] = defaultdict(list)
    for request, outcome in zip(batch, outcomes, strict=True):
        by_loop[request.loop].append((request.future, outcome))
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, settled)
        except RuntimeError:  # the loop has closed: nobody is waiting for these answers any more
            pass


def _settle(settled: list[tuple[asyncio.Future[Recorded], Recorded]]) -> None:
    for future, outcome in settled:
        if not future.done():
            future.set_result(outcome)
