"""deskhand sync over the Freshdesk simulator: backfill, incremental changes, deletions from the
deleted view, and a sync killed part-way (a fail point, or kill -9 at its n-th request, in another
process) resumed without loss."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.sim import registry
from deskhand.sim.base import HoldAt
from deskhand.sim.freshdesk import DEFAULT_API_KEY, FreshdeskSim, create_app, start
from deskhand.sim.freshdesk_state import FreshdeskState
from deskhand.store.tables_sync import replica_comments, replica_tickets
from deskhand.sync import replica
from deskhand.sync.engine import sync_account

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def sim() -> Iterator[FreshdeskSim]:
    state = FreshdeskState()
    state.seed_tickets(300, random.Random(11))
    with start(state, rate_limit=10**6) as server:
        yield server


def open_rt(db: Path, key: str, url: str) -> Runtime:
    rt = Runtime.open(Settings(database_url=f"sqlite:///{db}", secret_key=key))
    if rt.store.find_account("acme") is None:
        rt.store.save_account("acme", "freshdesk", {"domain": "acme", "api_key": DEFAULT_API_KEY, "base_url": url})
    return rt


def assert_equal(rt: Runtime, state: FreshdeskState) -> None:
    pairs, deleted, comments = registry.get("freshdesk").truth(state)
    got = replica.summary(rt.store.engine, "acme")
    assert (got["tickets"], got["comments"], got["checksum"]) == (len(pairs), comments, replica.checksum(pairs))
    assert set(got["deleted_ids"]) == deleted


def test_backfill_then_incremental_changes_and_deletions_reach_the_replica(tmp_path: Path, key: str, sim) -> None:  # type: ignore[no-untyped-def]
    rt = open_rt(tmp_path / "r.db", key, sim.url)
    first = sync_account(rt, "acme")
    assert first.done and first.mode == "full"
    assert_equal(rt, sim.state)
    state = sim.state
    state.clock = lambda: 4_000_000_000.0  # every change below is newer than the last sync
    fresh = state.create_ticket({"subject": "New", "description": "Just arrived", "email": "new@example.test"})
    some = sorted(state.tickets)[:3]
    state.reply(some[0], {"body": "Any news?", "user_id": state.tickets[some[0]]["requester_id"]})
    state.update_ticket(some[1], {"status": 5, "tags": ["closed_by_test"]})
    state.delete_ticket(some[2])
    again = sync_account(rt, "acme")
    assert again.mode == "incremental" and again.deleted == 1 and again.written >= 3
    assert_equal(rt, state)
    assert str(fresh["id"]) in {str(t) for t in state.tickets}
    rt.close()


def test_a_sync_killed_at_a_fail_point_resumes_without_loss(tmp_path: Path, key: str, sim) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "resume.db"
    rt = open_rt(db, key, sim.url)
    environ = {**os.environ, "DESKHAND_DATABASE_URL": f"sqlite:///{db}", "DESKHAND_SECRET_KEY": key,
               "DESKHAND_CRASH_AT": "sync_after_batch"}
    proc = subprocess.run([sys.executable, "-m", "deskhand.cli", "sync", "acme", "--json"], cwd=REPO, env=environ,
                          capture_output=True, timeout=120)
    assert proc.returncode == 137, proc.stderr.decode()[-2000:]
    assert 0 < replica.summary(rt.store.engine, "acme")["tickets"] < 300  # died part-way
    stats = sync_account(rt, "acme")
    assert stats.done and stats.written < 300
    assert_equal(rt, sim.state)
    rt.close()


API = "/api/v2/"  # the requests HoldAt counts


def seeded_state() -> FreshdeskState:
    state = FreshdeskState()
    state.seed_tickets(300, random.Random(11))
    return state


def held_sim(state: FreshdeskState, at: int) -> tuple[FreshdeskSim, HoldAt]:
    """The simulator over `state` behind a HoldAt gate (not started)."""
    app = create_app(state, rate_limit=10**6)
    gate = HoldAt(app, at, API)
    server = FreshdeskSim(gate)
    server.state, server.delivery = app.state.freshdesk, app.state.delivery
    server.rules, server.limits = app.state.rules, app.state.limits
    return server, gate


@pytest.fixture(scope="module")
def full_sync_requests(tmp_path_factory: pytest.TempPathFactory) -> int:
    """How many API requests a whole sync of the seeded helpdesk makes (the kill points' range)."""
    tmp_path, key = tmp_path_factory.mktemp("count"), Fernet.generate_key().decode()
    server, counting = held_sim(seeded_state(), 0)
    with server:
        rt = open_rt(tmp_path / "count.db", key, server.url)
        assert sync_account(rt, "acme").done
        rt.close()
    return counting.seen


@pytest.mark.parametrize("seed", [1, 2, 3], ids=["kill-a", "kill-b", "kill-c"])
def test_a_sync_killed_with_sigkill_at_a_random_point_resumes_equal(tmp_path: Path, key: str, seed: int,
                                                                    full_sync_requests: int) -> None:
    """kill -9 at a point of the sync chosen at random (seeded): the process is held at its n-th API
    request — ticket pages, conversation reads or the deleted view — and killed there; a new sync takes
    over and the replica equals the helpdesk, every ticket and conversation once."""
    total = full_sync_requests
    at = random.Random(seed).randint(2, total - 1)
    print(f"kill at request {at} of {total}")
    state = seeded_state()
    server, gate = held_sim(state, at)
    with server:
        db = tmp_path / "kill.db"
        rt = open_rt(db, key, server.url)
        environ = {**os.environ, "DESKHAND_DATABASE_URL": f"sqlite:///{db}", "DESKHAND_SECRET_KEY": key}
        proc = subprocess.Popen([sys.executable, "-m", "deskhand.cli", "sync", "acme", "--json"], cwd=REPO,
                                env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 120
            while not gate.reached.wait(0.05):
                assert proc.poll() is None, f"the sync ended before request {at} of {total}"
                assert time.monotonic() < deadline, f"the sync never reached request {at} of {total}"
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=30) == -signal.SIGKILL
        finally:
            gate.release.set()
            if proc.poll() is None:
                proc.kill()
        before = replica.summary(rt.store.engine, "acme")["tickets"]
        stats = sync_account(rt, "acme")  # the dead process's lease is taken over at once
        assert stats.done, (at, total, before)
        assert_equal(rt, state)
        with rt.store.engine.connect() as c:
            rows = c.execute(select(func.count()).select_from(replica_tickets)).scalar_one()
            distinct = c.execute(select(func.count(func.distinct(replica_comments.c.id)))).scalar_one()
            comments = c.execute(select(func.count()).select_from(replica_comments)).scalar_one()
        assert rows == len(state.tickets) and distinct == comments
        rt.close()
