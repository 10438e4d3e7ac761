"""deskhand sync over the Trello simulator: backfill of the board's cards (archived ones as closed),
incremental changes, deletions from deleteCard actions, and a sync killed part-way (a fail point, in
another process) resumed without loss."""

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
from deskhand.sim.trello import DEFAULT_KEY, DEFAULT_TOKEN, TrelloSim, start
from deskhand.sim.trello_seed import default_state, seed_cards, support_board
from deskhand.sim.trello_spec import overrides
from deskhand.sim.trello_state import TrelloState
from deskhand.sync import replica
from deskhand.sync.engine import sync_account

REPO = Path(__file__).resolve().parents[1]
CARDS = 250


@pytest.fixture
def key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def sim() -> Iterator[TrelloSim]:
    state = default_state(DEFAULT_TOKEN)
    seed_cards(state, CARDS, random.Random(11))
    with start(state, key_max=10**6, token_max=10**6) as server:
        yield server


def open_rt(db: Path, key: str, sim: TrelloSim) -> Runtime:
    rt = Runtime.open(Settings(database_url=f"sqlite:///{db}", secret_key=key))
    if rt.store.find_account("acme") is None:
        rt.store.save_account("acme", "trello", {"api_key": DEFAULT_KEY, "token": DEFAULT_TOKEN, "base_url": sim.url,
                                                 "board": support_board(sim.state)},
                              overrides=overrides(sim.state))
    return rt


def assert_equal(rt: Runtime, state: TrelloState) -> None:
    pairs, deleted, comments = registry.get("trello").truth(state)
    got = replica.summary(rt.store.engine, "acme")
    assert (got["tickets"], got["comments"], got["checksum"]) == (len(pairs), comments, replica.checksum(pairs))
    assert set(got["deleted_ids"]) == deleted


def test_backfill_then_incremental_changes_archives_and_deletions_reach_the_replica(
        tmp_path: Path, key: str, sim: TrelloSim) -> None:
    rt = open_rt(tmp_path / "r.db", key, sim)
    first = sync_account(rt, "acme")
    assert first.done and first.mode == "full"
    assert_equal(rt, sim.state)
    state = sim.state
    state.clock = lambda: 4_000_000_000.0  # every change below is newer than the last sync
    admin = state.tokens[DEFAULT_TOKEN]
    lists = overrides(state)["list"]
    fresh = state.create_card({"idList": lists["new"], "name": "Just arrived"}, admin)
    some = sorted(state.cards)[:4]
    state.comment(some[0], "Any news?", admin)
    state.update_card(some[1], {"idList": lists["solved"]}, admin)
    state.update_card(some[2], {"closed": True}, admin)
    state.delete_card(some[3], admin)
    again = sync_account(rt, "acme")
    assert again.mode == "incremental" and again.deleted == 1 and again.written >= 4
    assert_equal(rt, state)
    assert fresh["id"] in state.cards
    rt.close()


def test_a_sync_killed_at_a_fail_point_resumes_without_loss(tmp_path: Path, key: str, sim: TrelloSim) -> None:
    db = tmp_path / "resume.db"
    rt = open_rt(db, key, sim)
    environ = {**os.environ, "DESKHAND_DATABASE_URL": f"sqlite:///{db}", "DESKHAND_SECRET_KEY": key,
               "DESKHAND_CRASH_AT": "sync_after_batch"}
    proc = subprocess.run([sys.executable, "-m", "deskhand.cli", "sync", "acme", "--json"], cwd=REPO, env=environ,
                          capture_output=True, timeout=120)
    assert proc.returncode == 137, proc.stderr.decode()[-2000:]
    assert 0 < replica.summary(rt.store.engine, "acme")["tickets"] < CARDS  # died part-way
    stats = sync_account(rt, "acme")
    assert stats.done and stats.written < CARDS
    assert_equal(rt, sim.state)
    rt.close()
