"""deskhand sync over the Front simulator: a backfill from /events, then incremental changes (a new
conversation, a customer's message, a comment, a status, tags) and deletions (trashed and spam
conversations) reaching the replica equal to the simulator's truth."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.sim import registry
from deskhand.sim.front import DEFAULT_TOKEN, FrontSim, start
from deskhand.sim.front_seed import seed_conversations
from deskhand.sim.front_state import FrontState
from deskhand.sync import replica
from deskhand.sync.engine import sync_account


@pytest.fixture
def sim() -> Iterator[FrontSim]:
    state = FrontState(send_delay_s=0.0)
    seed_conversations(state, 120, random.Random(7))
    with start(state, rate_limit=10**6) as server:
        yield server


def open_rt(db: Path, url: str) -> Runtime:
    rt = Runtime.open(Settings(database_url=f"sqlite:///{db}", secret_key=Fernet.generate_key().decode()))
    rt.store.save_account("acme", "front", {"api_token": DEFAULT_TOKEN, "base_url": url, "teammate_id": "tea_2"})
    return rt


def assert_equal(rt: Runtime, state: FrontState) -> None:
    pairs, deleted, comments = registry.get("front").truth(state)
    got = replica.summary(rt.store.engine, "acme")
    assert (got["tickets"], got["comments"], got["checksum"]) == (len(pairs), comments, replica.checksum(pairs))
    assert set(got["deleted_ids"]) == deleted


def test_backfill_then_changes_and_trashed_or_spam_conversations_reach_the_replica(tmp_path: Path,
                                                                                   sim: FrontSim) -> None:
    rt = open_rt(tmp_path / "r.db", sim.url)
    first = sync_account(rt, "acme")
    assert first.done and first.mode == "full"
    assert_equal(rt, sim.state)
    state = sim.state
    state.clock = lambda: 4_000_000_000.0  # every change below is newer than the last sync
    some = sorted(state.conversations, key=lambda c: int(c[4:], 16))[:5]
    state.accept_message(None, {"sender": {"handle": "new@example.test"}, "subject": "New", "body": "Just arrived"},
                         inbound=True, author_id=None, channel_id=state.channel["id"])
    state.accept_message(some[0], {"body": "We are on it"}, inbound=False, author_id=state.admin["id"])
    state.comment(some[1], {"body": "internal: check billing"}, state.admin["id"])
    state.update(some[2], {"status_id": state.status_of_category("resolved"),
                           "tag_ids": [state.tag_named("closed_by_test")["id"]]})
    state.update(some[3], {"status": "deleted"})
    state.update(some[4], {"status": "spam"})
    again = sync_account(rt, "acme")
    assert again.mode == "incremental" and again.deleted == 2 and again.written >= 4
    assert_equal(rt, state)
    rt.close()


def test_a_sync_killed_at_a_fail_point_resumes_without_loss(tmp_path: Path, sim: FrontSim) -> None:
    import os
    import subprocess
    import sys

    db = tmp_path / "resume.db"
    key = Fernet.generate_key().decode()
    rt = Runtime.open(Settings(database_url=f"sqlite:///{db}", secret_key=key))
    rt.store.save_account("acme", "front", {"api_token": DEFAULT_TOKEN, "base_url": sim.url, "teammate_id": "tea_2"})
    environ = {**os.environ, "DESKHAND_DATABASE_URL": f"sqlite:///{db}", "DESKHAND_SECRET_KEY": key,
               "DESKHAND_CRASH_AT": "sync_after_batch"}
    proc = subprocess.run([sys.executable, "-m", "deskhand.cli", "sync", "acme", "--json"],
                          cwd=Path(__file__).resolve().parents[1], env=environ, capture_output=True, timeout=120)
    assert proc.returncode == 137, proc.stderr.decode()[-2000:]
    assert 0 < replica.summary(rt.store.engine, "acme")["tickets"] < 120  # died part-way
    assert sync_account(rt, "acme").done  # (an event feed may write a conversation once per page it is on)
    assert_equal(rt, sim.state)
    rt.close()
