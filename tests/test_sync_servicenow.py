"""deskhand sync over the ServiceNow simulator: backfill, incremental changes (sys_updated_on with an
overlap), deletions found by the sys_id sweep, and a sync killed part-way resumed without loss."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.sim import registry
from deskhand.sim.registry import RunningSim, SimConfig
from deskhand.sim.servicenow_seed import seed_incidents
from deskhand.sim.servicenow_state import ServiceNowState
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
