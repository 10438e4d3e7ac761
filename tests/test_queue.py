from __future__ import annotations

import threading

import pytest

from deskhand.queue import PRIORITY_BACKFILL, PRIORITY_WRITE, SqlQueue
from deskhand.sim.base import ManualClock
from deskhand.store import Store

pytestmark = pytest.mark.every_backend


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def queue(store: Store, clock: ManualClock) -> SqlQueue:
    return SqlQueue(store.engine, clock=clock)


def test_dedupe_key_enqueues_once(queue: SqlQueue) -> None:
    assert queue.enqueue(None, "k", {"n": 1}, dedupe_key="x") is not None
    assert queue.enqueue(None, "k", {"n": 2}, dedupe_key="x") is None
    assert queue.counts() == {"queued": 1}


def test_priority_lanes_run_write_back_before_backfill(queue: SqlQueue) -> None:
    queue.enqueue(None, "backfill", {}, priority=PRIORITY_BACKFILL)
    queue.enqueue(None, "event", {})
    queue.enqueue(None, "write", {}, priority=PRIORITY_WRITE)
    kinds = [queue.claim("w").kind for _ in range(3)]  # type: ignore[union-attr]
    assert kinds == ["write", "event", "backfill"]


def test_expired_lease_is_redelivered_and_the_old_owner_cannot_ack(queue: SqlQueue, clock: ManualClock) -> None:
    queue.enqueue(None, "k", {})
    job = queue.claim("w1", lease_s=30)
    assert job is not None and queue.claim("w2") is None
    clock.advance(31)
    again = queue.claim("w2", lease_s=30)
    assert again is not None and again.id == job.id and again.attempts == 2
    assert queue.ack(job, "w1") is False
    assert queue.ack(again, "w2") is True
    assert queue.counts() == {"done": 1}


def test_retry_backs_off_then_dead_letters(queue: SqlQueue, clock: ManualClock) -> None:
    queue.enqueue(None, "k", {}, max_attempts=2)
    job = queue.claim("w")
    assert job is not None
    assert queue.retry(job, "w", "boom") == "queued"
    assert queue.claim("w") is None  # not due yet
    clock.advance(10)
    job = queue.claim("w")
    assert job is not None and job.attempts == 2
    assert queue.retry(job, "w", "boom again") == "dead"
    assert queue.counts() == {"dead": 1}
    assert queue.dead_jobs()[0]["last_error"] == "boom again"


def test_retry_after_beats_backoff(queue: SqlQueue, clock: ManualClock) -> None:
    queue.enqueue(None, "k", {})
    job = queue.claim("w")
    assert job is not None
    queue.retry(job, "w", "429", delay_s=40)
    clock.advance(39)
    assert queue.claim("w") is None
    clock.advance(2)
    assert queue.claim("w") is not None


def test_defer_does_not_count_an_attempt(queue: SqlQueue, clock: ManualClock) -> None:
    queue.enqueue(None, "k", {}, max_attempts=1)
    job = queue.claim("w")
    assert job is not None
    queue.defer(job, "w", clock() + 3600, "hourly quota")
    clock.advance(3601)
    again = queue.claim("w")
    assert again is not None and again.attempts == 1


def test_racing_workers_never_share_a_job(store: Store) -> None:
    queue = SqlQueue(store.engine)
    for i in range(60):
        queue.enqueue(None, "k", {"i": i})
    seen: list[int] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        while (job := queue.claim(name)) is not None:
            with lock:
                seen.append(job.id)
            assert queue.ack(job, name)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 60
