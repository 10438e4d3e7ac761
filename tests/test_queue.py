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


def test_retries_of_a_failing_job_span_at_least_a_day_before_it_is_dead(queue: SqlQueue, clock: ManualClock) -> None:
    from deskhand.queue.sql import BACKOFF_CAP_S, DAY_S, MAX_ATTEMPTS, backoff_s

    assert all(backoff_s(a) <= BACKOFF_CAP_S for a in range(1, 200))
    queue.enqueue(None, "k", {})
    start, status = clock(), "queued"
    while status == "queued":
        clock.advance(BACKOFF_CAP_S + 1)  # whatever the jitter drew, the retry is due by now
        job = queue.claim("w")
        assert job is not None
        status = queue.retry(job, "w", "503 Service Unavailable")
    assert status == "dead" and job.attempts == MAX_ATTEMPTS
    assert sum(min(BACKOFF_CAP_S, 2.0**a) * 0.8 for a in range(1, MAX_ATTEMPTS)) >= DAY_S  # the shortest draw
    assert clock() - start >= DAY_S
