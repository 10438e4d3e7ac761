"""The gateway's group-commit writer: batches commit together, each request is answered for itself.

Runs on SQLite and PostgreSQL. The writer is driven directly (asyncio), with many requests in flight
at once so that batches really hold several requests, including the same delivery twice.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from typing import Any

import pytest
from sqlalchemy import func, select

from deskhand.gateway.ingest import Ingest, Recorded
from deskhand.model import Event, EventKind
from deskhand.runtime import Runtime
from deskhand.store import Store
from deskhand.store.schema import events as events_table
from deskhand.store.schema import jobs

pytestmark = pytest.mark.every_backend


def _event(delivery: str, ticket: str = "1") -> Event:
    return Event(provider="zendesk", account="acme", kind=EventKind.TICKET_CREATED, ticket_id=ticket,
                 delivery_id=delivery, payload={"id": delivery})


@pytest.fixture
def rt(store: Store) -> Runtime:
    config = {"subdomain": "acme", "email": "a@acme.test", "api_token": "t", "webhook_secret": "s",
              "base_url": "http://127.0.0.1:9"}
    store.save_account("acme", "zendesk", config)
    return Runtime(store)


def _stored(store: Store) -> tuple[int, int]:
    with store.engine.connect() as c:
        n_events = c.execute(select(func.count()).select_from(events_table)).scalar_one()
        n_jobs = c.execute(select(func.count()).select_from(jobs).where(jobs.c.kind == "handle_event")).scalar_one()
    return int(n_events), int(n_jobs)


class Held:
    """Holds the writer's first transaction until released, so that the next requests queue up
    behind it and are written as one batch."""

    def __init__(self, ingest: Ingest) -> None:
        self.gate, self.entered = threading.Event(), threading.Event()
        self.transactions = 0
        insert_batch = ingest._insert_batch

        def held(*args: Any) -> Any:
            self.transactions += 1
            if self.transactions == 1:
                self.entered.set()
                self.gate.wait(10)
            return insert_batch(*args)

        ingest._insert_batch = held  # type: ignore[method-assign]

    def behind_the_first(self, first: Coroutine[Any, Any, Recorded], rest: list[Coroutine[Any, Any, Recorded]],
                         settle_s: float = 0.2) -> list[Recorded]:
        """Run `first`; while its transaction is held, start `rest` (they queue up), then release it.
        The answers, in order."""
        async def run() -> list[Recorded]:
            head = asyncio.ensure_future(first)
            await asyncio.get_running_loop().run_in_executor(None, self.entered.wait, 10)
            pending = [asyncio.ensure_future(r) for r in rest]
            await asyncio.sleep(settle_s)
            self.gate.set()
            return [await head, *[await p for p in pending]]

        return asyncio.run(run())


def test_concurrent_requests_commit_in_batches_and_each_gets_its_own_answer(rt: Runtime, store: Store) -> None:
    ingest = Ingest(rt)
    slow = Held(ingest)
    account = store.get_account("acme")

    # while the first transaction is held: 40 requests, one delivery twice, one request with two
    # events of which one is the first request's delivery
    rest = [ingest.record(account, [_event(f"d-{i}")]) for i in range(1, 40)]
    rest.append(ingest.record(account, [_event("d-7")]))
    rest.append(ingest.record(account, [_event("d-0"), _event("d-40")]))
    results = slow.behind_the_first(ingest.record(account, [_event("d-0")]), rest)
    ingest.close()
    assert all(r.error is None for r in results)
    assert slow.transactions == 2 and ingest.batches == 2  # the first request alone, then all the rest
    accepted = [i for r in results for i in r.accepted]
    assert len(accepted) == len(set(accepted)) == 41  # d-0 … d-40, each once
    d7 = [results[7], results[40]]
    assert sorted((len(r.accepted), r.duplicates) for r in d7) == [(0, 1), (1, 0)]
    assert (len(results[41].accepted), results[41].duplicates) == (1, 1)
    assert _stored(store) == (41, 41)


def test_a_bad_row_fails_only_its_own_request(rt: Runtime, store: Store) -> None:
    ingest = Ingest(rt)
    account = store.get_account("acme")
    too_long = _event("x" * 10_000) if store.engine.dialect.name == "postgresql" else None
    bad = Event(provider="zendesk", account="acme", kind=EventKind.TICKET_CREATED, ticket_id=None,  # type: ignore[arg-type]
                delivery_id="bad")  # NOT NULL ticket_id
    slow = Held(ingest)

    batch = [ingest.record(account, [_event("ok-1")]), ingest.record(account, [bad])]
    if too_long:
        batch.append(ingest.record(account, [too_long]))
    batch.append(ingest.record(account, [_event("ok-2")]))
    results = slow.behind_the_first(ingest.record(account, [_event("ok-0")]), batch)
    ingest.close()
    assert [r.error for r in results[:2]] == [None, None] and results[-1].error is None
    assert results[2].error == "store_unavailable"
    if too_long:  # PostgreSQL enforces the column's length: that request fails alone too
        assert results[3].error == "store_unavailable"
    assert _stored(store)[1] == sum(len(r.accepted) for r in results) >= 3


def test_an_unreachable_store_answers_every_request_503_and_stores_nothing(rt: Runtime, store: Store) -> None:
    from sqlalchemy.exc import OperationalError

    ingest = Ingest(rt)
    attempts = []

    def down(*args: Any) -> Any:
        attempts.append(args)
        raise OperationalError("connect", {}, ConnectionRefusedError("refused"))

    ingest._insert_batch = down  # type: ignore[method-assign]
    account = store.get_account("acme")

    async def run() -> list[Recorded]:
        return list(await asyncio.gather(*(ingest.record(account, [_event(f"d-{i}")]) for i in range(5))))

    assert [r.error for r in asyncio.run(run())] == ["store_unavailable"] * 5
    ingest.close()
    assert 2 <= len(attempts) <= 10  # each batch: tried, then once more on a fresh connection; never row by row
    assert _stored(store) == (0, 0)


def test_too_many_waiting_requests_are_shed_not_queued(rt: Runtime, store: Store) -> None:
    ingest = Ingest(rt, max_waiting=3)
    slow = Held(ingest)
    account = store.get_account("acme")

    waiting = [ingest.record(account, [_event(f"d-{i}")]) for i in range(1, 6)]
    results = slow.behind_the_first(ingest.record(account, [_event("d-0")]), waiting)
    ingest.close()
    assert [r.error for r in results] == [None, None, None, None, "overloaded", "overloaded"]
    assert _stored(store) == (4, 4)


def test_the_writer_stops_when_idle_and_starts_again(rt: Runtime, store: Store) -> None:
    ingest = Ingest(rt, idle_s=0.1)
    account = store.get_account("acme")
    assert asyncio.run(ingest.record(account, [_event("d-1")])).accepted
    deadline = time.monotonic() + 5
    while ingest._thread is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ingest._thread is None
    assert asyncio.run(ingest.record(account, [_event("d-2")])).accepted
    ingest.close()
    assert ingest._thread is None and _stored(store) == (2, 2)


def test_a_stale_account_is_read_once_however_many_requests_find_it_stale(rt: Runtime, store: Store) -> None:
    from deskhand.gateway.app import AccountCache

    clock = [0.0]
    cache = AccountCache(rt, ttl_s=2.0, clock=lambda: clock[0])
    reads = []
    find = cache.find

    def counted(name: str) -> Any:
        reads.append(name)
        time.sleep(0.05)
        return find(name)

    cache.find = counted  # type: ignore[method-assign]

    async def burst(n: int) -> list[Any]:
        return list(await asyncio.gather(*(cache.get(name) for name in ["acme"] * n + ["nobody"] * n)))

    first = asyncio.run(burst(20))  # nothing cached: the waiters share one read per name
    assert sorted(reads) == ["acme", "nobody"]
    assert all(f.account and f.account.name == "acme" and f.connector for f in first[:20])
    assert all(f.account is None for f in first[20:])
    clock[0] = 5.0  # stale: one request reads again, the others use what is cached meanwhile
    again = asyncio.run(burst(20))
    assert len(reads) <= 4 and all(f.account for f in again[:20])


def test_on_sqlite_the_wal_is_checkpointed_off_the_writer(
    rt: Runtime, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("WAL checkpoints are SQLite's")
    from pathlib import Path

    from deskhand.gateway.ingest import Checkpoints

    ingest = Ingest(rt)
    account = store.get_account("acme")
    checkpoints: list[Any] = []
    real = Checkpoints._checkpoint
    monkeypatch.setattr(Checkpoints, "_checkpoint", staticmethod(lambda raw: (checkpoints.append(1), real(raw))))

    async def run() -> None:
        for n in range(30):  # ~1.5 s of writes, 100 deliveries at a time
            await asyncio.gather(*(ingest.record(account, [_event(f"d-{n}-{i}")]) for i in range(100)))
            await asyncio.sleep(0.05)

    asyncio.run(run())
    writer_conn = ingest._conn
    assert writer_conn is not None
    assert writer_conn.connection.dbapi_connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    ingest.close()
    assert len(checkpoints) >= 2  # periodic, by the checkpoint thread (and once more at the end)
    wal = Path(str(store.engine.url.database) + "-wal")
    raw = store.engine.raw_connection()  # outside any transaction (the store's begin takes the write lock)
    busy, frames, done = raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    raw.close()
    assert busy == 0 and frames == done  # nothing left behind in the WAL
    assert _stored(store) == (3000, 3000) and wal.exists()
