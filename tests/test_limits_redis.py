"""deskhand.limits.redis: the budget contract on Redis (Lua scripts) and on the local policy book, races
across threads and processes, and Redis lost mid-run -> conservative local budgets -> back to Redis.

Uses the machine's Redis (127.0.0.1:6379, DESKHAND_TEST_REDIS_URL) under a key prefix per test, deleted
after; loss is simulated by making the client's connections fail, never by stopping that Redis."""

from __future__ import annotations

import inspect
import logging
import multiprocessing
import os
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from deskhand.limits import BACKFILL, INTERACTIVE, WRITE, BudgetBook, BudgetLimiter
from deskhand.limits.policy import Budget
from deskhand.limits.redis import FallbackBook, LocalBook, RedisBook, redis_client
from deskhand.settings import Settings
from deskhand.store.db import open_engine
from tests import test_limits

REDIS_URL = os.environ.get("DESKHAND_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
KEY = "zendesk:acme"


def client() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL, socket_timeout=1.0, socket_connect_timeout=1.0)


@pytest.fixture
def prefix() -> Iterator[str]:
    p = f"deskhand:test:{uuid.uuid4().hex}:"
    yield p
    c = client()
    for k in c.scan_iter(match=p + "*"):
        c.delete(k)
    c.close()


# -- one contract, every backend: the cases of tests/test_limits.py with their book swapped ---------------
def _contract_cases() -> list[Any]:
    cases = []
    for name, fn in inspect.getmembers(test_limits, inspect.isfunction):
        params = inspect.signature(fn).parameters
        if not name.startswith("test_") or not ({"engine"} & set(params) or "shared_by_every_process" in name):
            continue
        marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "parametrize"]
        if not marks:
            cases.append(pytest.param(fn, {}, id=name))
            continue
        names = [n.strip() for n in marks[0].args[0]] if not isinstance(marks[0].args[0], str) else \
            [n.strip() for n in marks[0].args[0].split(",")]
        for i, values in enumerate(marks[0].args[1]):
            cases.append(pytest.param(fn, dict(zip(names, values, strict=True)), id=f"{name}[{i}]"))
    return cases


@pytest.mark.parametrize("backend", ["redis", "local-policy"])
@pytest.mark.parametrize(("case", "args"), _contract_cases())
def test_the_store_budget_contract_holds_on_every_backend(
    backend: str, case: Callable[..., None], args: dict[str, Any], prefix: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    book: Any = RedisBook(client(), prefix) if backend == "redis" else LocalBook(1.0)
    monkeypatch.setattr(test_limits, "BudgetBook", lambda _engine: book)
    engine = open_engine(f"sqlite:///{tmp_path / 'unused.db'}")
    try:
        params = inspect.signature(case).parameters
        extra = {k: v for k, v in {"engine": engine, "tmp_path": tmp_path}.items() if k in params}
        case(**extra, **args)
    finally:
        engine.dispose()


def test_the_contract_cases_were_found() -> None:
    assert len(_contract_cases()) >= 12


# -- the three encodings of the policy agree step for step ----------------------------------------------
def _random_ops(seed: int, n: int) -> list[tuple[Any, ...]]:
    rnd = random.Random(seed)
    now, ops = 1000.0, list[tuple[Any, ...]]()
    for _ in range(n):
        now += rnd.choice([0.0, 0.0, 0.05, 0.3, 1.7, 6.0])
        kind = rnd.choices(["take", "spread", "observe", "block", "ensure"], [10, 2, 4, 1, 1])[0]
        key = rnd.choice(["a", "b"])
        if kind == "take":
            ops.append((kind, key, rnd.choice([WRITE, INTERACTIVE, BACKFILL]), now))
        elif kind == "spread":
            ops.append((kind, key, INTERACTIVE, now))
        elif kind == "observe":
            reset = rnd.choice([None, 3.0, 5.0, 12.0])
            opened = reset is not None and rnd.random() < 0.3  # the request opened the provider's window
            ops.append((kind, key, 40, 39 if opened else rnd.randint(0, 40), reset,
                        now - rnd.choice([0.0, 0.2, 8.0]), now, 10.0, opened))
        elif kind == "block":
            ops.append((kind, key, now + rnd.choice([0.5, 3.0]), "429 Too Many Requests", now))
        else:
            ops.append((kind, key, 20, 2.0, now))
    return ops


def _apply(book: Any, op: tuple[Any, ...]) -> Any:
    kind, key, *rest = op
    if kind in ("take", "spread"):
        v = book.acquire(key, rest[0], rest[1], spread=kind == "spread")
        return (v.go, v.reason, v.remaining, round(v.wait_s, 6))
    if kind == "observe":
        limit, remaining, reset_s, sent_at, now, window_s, opened = rest
        return book.observe(key, limit, remaining, reset_s, sent_at=sent_at, now=now, window_s=window_s,
                            opened=opened)
    if kind == "block":
        return book.block(key, rest[0], rest[1], rest[2], limit=40, window_s=10.0)
    return book.ensure(key, *rest)


def _state(book: Any, key: str) -> tuple[float, ...] | None:
    s: Budget | None = book.budget(key)
    if s is None:
        return None
    return (s.limit_n, s.remaining, s.window_s, s.reset_at, s.rolled_at, s.next_at, s.blocked_until)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_lua_and_the_policy_reference_agree_on_random_traffic(seed: int, prefix: str, tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'agree.db'}")
    books = {"sql": BudgetBook(engine), "lua": RedisBook(client(), prefix), "policy": LocalBook(1.0)}
    for step, op in enumerate(_random_ops(seed, 300)):
        answers = {name: _apply(book, op) for name, book in books.items()}
        assert answers["sql"] == answers["lua"] == answers["policy"], (step, op, answers)
        states = {name: _state(book, op[1]) for name, book in books.items()}
        assert states["sql"] == pytest.approx(states["lua"]) and states["lua"] == pytest.approx(states["policy"]), (
            step, op, states)
    engine.dispose()


# -- races: every grant is one atomic script -----------------------------------------------------------
def _race(prefix: str, lane: str, attempts: int, now: float, granted: Any) -> None:
    book = RedisBook(client(), prefix)
    n = sum(book.acquire(KEY, lane, now).go for _ in range(attempts))
    granted.put(n) if hasattr(granted, "put") else granted.append(n)


def test_threads_on_separate_connections_are_granted_exactly_the_limit(prefix: str) -> None:
    RedisBook(client(), prefix).observe(KEY, 1000, 60, 600, sent_at=1000.0, now=1000.0, window_s=600)
    granted: list[int] = []
    threads = [threading.Thread(target=_race, args=(prefix, WRITE, 40, 1001.0, granted)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 60  # 240 attempts
    assert RedisBook(client(), prefix).budget(KEY).remaining == 0  # type: ignore[union-attr]


def test_processes_are_granted_exactly_the_limit(prefix: str) -> None:
    RedisBook(client(), prefix).observe(KEY, 1000, 75, 600, sent_at=1000.0, now=1000.0, window_s=600)
    ctx = multiprocessing.get_context("fork")
    granted = ctx.Queue()
    procs = [ctx.Process(target=_race, args=(prefix, WRITE, 40, 1001.0, granted)) for _ in range(3)]
    for p in procs:
        p.start()
    counts = [granted.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(30)
    assert sum(counts) == 75 and all(p.exitcode == 0 for p in procs)


def test_floors_and_pacing_hold_under_a_race_exactly_as_the_policy_says(prefix: str) -> None:
    """Backfill at one instant: spends to its pacing threshold, takes one paced slot, stops — no
    interleaving of readers and writers can grant one more (each take reads and writes in one script)."""
    reference = LocalBook(1.0)
    reference.observe(KEY, 100, 30, 60, sent_at=1000.0, now=1000.0, window_s=60)
    expected = sum(reference.acquire(KEY, BACKFILL, 1001.0).go for _ in range(40))
    RedisBook(client(), prefix).observe(KEY, 100, 30, 60, sent_at=1000.0, now=1000.0, window_s=60)
    granted: list[int] = []
    threads = [threading.Thread(target=_race, args=(prefix, BACKFILL, 10, 1001.0, granted)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == expected == 21


def test_every_change_is_a_registered_script_called_by_sha(prefix: str) -> None:
    c = client()
    book = RedisBook(c, prefix)
    c.script_flush()  # a Redis that forgot the scripts: redis-py loads them again on NOSCRIPT
    book.observe(KEY, 10, 10, 5, sent_at=1000.0, now=1000.0, window_s=5)
    assert book.acquire(KEY, WRITE, 1000.5).go
    shas = [book._take.sha, book._observe.sha]
    exists: list[bool] = c.script_exists(*shas)  # type: ignore[assignment]
    ttl: int = c.ttl(prefix + KEY)  # type: ignore[assignment]
    assert all(exists) and ttl > 3600  # an idle budget expires after its window


# -- Redis lost mid-run ---------------------------------------------------------------------------------
class Outage:
    """Makes every new connection of a client fail (as a Redis that went away does), then heals."""

    def __init__(self, c: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
        self.client, self.monkeypatch = c, monkeypatch

    def start(self) -> None:
        def refuse(_self: Any) -> None:
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

        self.monkeypatch.setattr(redis.connection.AbstractConnection, "connect", refuse)
        self.client.connection_pool.disconnect()

    def end(self) -> None:
        self.monkeypatch.undo()


def test_redis_lost_falls_back_to_local_budgets_with_one_warning_and_comes_back(
    prefix: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    mono = test_limits.ManualClock(0.0)
    c = client()
    book = FallbackBook(RedisBook(c, prefix), LocalBook(0.25), retry_s=5.0, clock=mono)
    book.observe(KEY, 100, 100, 60, sent_at=1000.0, now=1000.0, window_s=60)
    assert book.acquire(KEY, WRITE, 1000.1).go and book.on_redis
    outage = Outage(c, monkeypatch)
    caplog.set_level(logging.INFO, logger="deskhand.limits.redis")

    outage.start()
    first = book.acquire(KEY, WRITE, 1000.2)  # nothing known locally yet: the first request goes
    assert first.go and first.reason == "no budget known yet" and not book.on_redis
    book.observe(KEY, 100, 98, 59, sent_at=1000.2, now=1000.3, window_s=60)  # the provider's figure
    grants = sum(book.acquire(KEY, WRITE, 1000.4).go for _ in range(100))
    assert grants == 24  # a quarter of the provider's 98: other processes may be spending too
    mono.advance(6.0)  # Redis is probed again, still down: still local, still one warning
    assert not book.acquire(KEY, WRITE, 1000.5).go
    lost = [r for r in caplog.records if "redis_lost" in r.getMessage()]
    assert len(lost) == 1 and lost[0].levelno == logging.WARNING

    outage.end()
    assert not book.acquire(KEY, WRITE, 1000.6).go and not book.on_redis  # within retry_s: not probed yet
    mono.advance(6.0)
    back = book.acquire(KEY, WRITE, 1000.7)
    assert back.go and back.remaining == 98 and book.on_redis  # Redis's own count, untouched by the outage
    assert any("redis_back" in r.getMessage() for r in caplog.records)

    outage.start()  # a second outage: a second warning
    book.acquire(KEY, WRITE, 1000.8)
    assert len([r for r in caplog.records if "redis_lost" in r.getMessage()]) == 2


def test_a_redis_that_never_answers_still_limits_locally(caplog: pytest.LogCaptureFixture) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    dead = redis_client(f"redis://127.0.0.1:{port}/0")
    book = FallbackBook(RedisBook(dead), LocalBook(0.5))
    clock = test_limits.ManualClock(1000.0)
    lim = BudgetLimiter(book, "zendesk", "acme", test_limits.ZENDESK, clock=clock, sleep=clock.advance,
                        max_sleep_s={WRITE: 60.0})
    with caplog.at_level(logging.WARNING, logger="deskhand.limits.redis"):
        test_limits.send(lim, "GET", "http://z/api/v2/tickets.json", test_limits.zendesk_headers(700, 0, 30))
        start = clock()
        test_limits.send(lim, "PUT", "http://z/api/v2/tickets/1.json")  # waits the window out locally
    assert 29 <= clock() - start <= 32
    assert len([r for r in caplog.records if "redis_lost" in r.getMessage()]) == 1


@pytest.mark.parametrize(("redis_url", "book_type"), [(REDIS_URL, FallbackBook), (None, BudgetBook)],
                         ids=["DESKHAND_REDIS_URL-set", "no-redis"])
def test_the_runtime_puts_budgets_in_redis_when_it_is_configured(
    tmp_path: Path, redis_url: str | None, book_type: type
) -> None:
    from cryptography.fernet import Fernet

    from deskhand.runtime import Runtime
    from deskhand.store import AccountRecord, Store

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'rt.db'}", secret_key=Fernet.generate_key().decode(),
                        redis_url=redis_url)
    rt = Runtime(Store.open(settings), settings)
    account = AccountRecord.__new__(AccountRecord)
    object.__setattr__(account, "provider", "zendesk")
    object.__setattr__(account, "name", "acme")
    object.__setattr__(account, "config", {})
    assert isinstance(rt.limiter(account).book, book_type)
    rt.close()
