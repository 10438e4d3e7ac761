"""deskhand sync over the ServiceNow simulator: backfill, incremental changes (sys_updated_on with an
overlap), deletions found by the sys_id sweep, and a sync killed part-way resumed without loss."""

from __future__ import annotations

import dataclasses
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
from deskhand.sim.registry import RunningSim, SimConfig
from deskhand.sim.servicenow_seed import seed_incidents
from deskhand.sim.servicenow_state import ServiceNowState
from deskhand.store.tables_sync import replica_comments, replica_tickets
from deskhand.sync import replica
from deskhand.sync.engine import sync_account

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def sim() -> Iterator[RunningSim]:
    state = ServiceNowState()
    spec = registry.get("servicenow")
    with spec.start(SimConfig(state=state)) as server:
        seed_incidents(state, 250, random.Random(11))
        yield server


def open_rt(db: Path, key: str, sim: RunningSim) -> Runtime:
    rt = Runtime.open(Settings(database_url=f"sqlite:///{db}", secret_key=key))
    if rt.store.find_account("acme") is None:
        rt.store.save_account("acme", "servicenow", registry.get("servicenow").connect_to(sim))
    return rt


def assert_equal(rt: Runtime, state: ServiceNowState) -> None:
    pairs, deleted, comments = registry.get("servicenow").truth(state)
    got = replica.summary(rt.store.engine, "acme")
    assert (got["tickets"], got["comments"], got["checksum"]) == (len(pairs), comments, replica.checksum(pairs))
    assert set(got["deleted_ids"]) == deleted


def test_backfill_then_incremental_changes_and_a_sweep_for_deletions(tmp_path: Path, key: str,
                                                                     sim: RunningSim) -> None:
    rt = open_rt(tmp_path / "r.db", key, sim)
    first = sync_account(rt, "acme")
    assert first.done and first.mode == "full"
    assert_equal(rt, sim.state)
    state = sim.state
    state.clock = lambda: 4_000_000_000.0  # every change below is newer than the last sync
    fresh = state.create_incident({"short_description": "New", "description": "Just arrived"}, "customer")
    some = sorted(state.tables["incident"])[:3]
    state.update_incident(some[0], {"comments": "Any news?"}, "customer")
    state.update_incident(some[1], {"work_notes": "Checked the logs.", "state": "7", "close_code": "Solved",
                                    "close_notes": "Done."}, "admin")
    state.delete("incident", some[2])
    again = sync_account(rt, "acme")
    assert again.mode == "incremental" and again.written >= 3
    swept = sync_account(rt, "acme", full=True)
    assert swept.deleted == 1
    assert_equal(rt, state)
    assert fresh["sys_id"] in state.tables["incident"]
    rt.close()


def test_a_sync_killed_at_a_fail_point_resumes_without_loss(tmp_path: Path, key: str, sim: RunningSim) -> None:
    db = tmp_path / "resume.db"
    rt = open_rt(db, key, sim)
    environ = {**os.environ, "DESKHAND_DATABASE_URL": f"sqlite:///{db}", "DESKHAND_SECRET_KEY": key,
               "DESKHAND_CRASH_AT": "sync_after_batch"}
    proc = subprocess.run([sys.executable, "-m", "deskhand.cli", "sync", "acme", "--json"], cwd=REPO, env=environ,
                          capture_output=True, timeout=120)
    assert proc.returncode == 137, proc.stderr.decode()[-2000:]
    assert 0 < replica.summary(rt.store.engine, "acme")["tickets"] < 250  # died part-way
    stats = sync_account(rt, "acme")
    assert stats.done and stats.written < 250
    assert_equal(rt, sim.state)
    rt.close()


TABLE_API = "/api/now/table/"  # the requests HoldAt counts (the OAuth endpoints are not the sync's)


@pytest.fixture(scope="module")
def full_sync_requests(tmp_path_factory: pytest.TempPathFactory) -> int:
    """How many Table API requests a whole sync of the seeded instance makes (the kill points' range)."""
    tmp_path, key = tmp_path_factory.mktemp("count"), Fernet.generate_key().decode()
    state = ServiceNowState()
    spec = registry.get("servicenow")
    built = spec.build(SimConfig(state=state))
    counting = HoldAt(built.app, 0, TABLE_API)
    with RunningSim(spec, SimConfig(state=state), dataclasses.replace(built, app=counting)) as server:
        seed_incidents(state, 250, random.Random(11))
        rt = open_rt(tmp_path / "count.db", key, server)
        assert sync_account(rt, "acme").done
        rt.close()
    return counting.seen


@pytest.mark.parametrize("seed", [1, 2, 3], ids=["kill-a", "kill-b", "kill-c"])
def test_a_sync_killed_with_sigkill_at_a_random_point_resumes_equal(tmp_path: Path, key: str, seed: int,
                                                                    full_sync_requests: int) -> None:
    """kill -9 at a point of the sync chosen at random (seeded): the process is held at its n-th Table
    API request — listing pages, journal reads or the deletion sweep — and killed there; a new sync
    takes over and the replica equals the instance, every incident and comment once."""
    total = full_sync_requests
    at = random.Random(seed).randint(2, total - 1)
    print(f"kill at request {at} of {total}")
    state = ServiceNowState()
    spec = registry.get("servicenow")
    built = spec.build(SimConfig(state=state))
    gate = HoldAt(built.app, at, TABLE_API)
    with RunningSim(spec, SimConfig(state=state), dataclasses.replace(built, app=gate)) as server:
        seed_incidents(state, 250, random.Random(11))
        db = tmp_path / "kill.db"
        rt = open_rt(db, key, server)
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
        assert rows == len(state.tables["incident"]) and distinct == comments
        rt.close()
