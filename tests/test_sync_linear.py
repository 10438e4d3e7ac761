"""A Linear account synced from the simulator: backfill, then incremental changes (an update, a new
comment, a new issue) and a deletion (issueDelete trashes the issue: it comes back under
includeArchived with trashed: true and becomes a tombstone), equal to the simulator's truth."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.sim import registry
from deskhand.sim.base import SimServer
from deskhand.sim.linear import create_app
from deskhand.sim.linear_state import LinearState
from deskhand.sync import replica
from deskhand.sync.engine import sync_account

KEY = "lin_api_sync_test"


class Clock:
    def __init__(self) -> None:
        self.now = 1_796_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sim() -> Iterator[tuple[SimServer, LinearState, Clock]]:
    clock = Clock()
    state = LinearState(clock=clock)
    state.seed_issues(120, random.Random(4))
    app = create_app(state, api_key=KEY)
    with SimServer(app) as server:
        yield server, state, clock
    app.state.delivery.close()


def assert_equal(rt: Runtime, state: LinearState) -> None:
    pairs, deleted, comments = registry.get("linear").truth(state)
    got = replica.summary(rt.store.engine, "acme")
    assert (got["tickets"], got["comments"], got["checksum"]) == (len(pairs), comments, replica.checksum(pairs))
    assert set(got["deleted_ids"]) == deleted


def test_backfill_then_changes_and_a_deletion_reach_the_replica(tmp_path: Path, sim) -> None:  # type: ignore[no-untyped-def]
    server, state, clock = sim
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}", secret_key=Fernet.generate_key().decode())
    rt = Runtime.open(settings)
    rt.store.save_account("acme", "linear", {"api_key": KEY, "team_id": state.team["id"], "base_url": server.url})
    first = sync_account(rt, "acme")
    assert first.done and first.mode == "full"
    assert_equal(rt, state)
    clock.now += 3600  # every change below is newer than the last sync
    some = sorted(state.issues)[:3]
    actor = state.viewer["id"]
    state.update_issue(some[0], {"priority": 1, "stateId": state.state_named(state.team["id"], "Done")["id"]}, actor)
    state.create_comment({"issueId": some[1], "body": "Any news?"}, state.intake_user()["id"])
    state.delete_issue(some[2], actor)
    fresh = state.create_issue({"teamId": state.team["id"], "title": "New one", "description": "Just arrived"}, actor)
    again = sync_account(rt, "acme")
    assert again.mode == "incremental" and again.deleted == 1 and again.written >= 3
    assert_equal(rt, state)
    assert fresh["id"] in {p[0] for p in registry.get("linear").truth(state)[0]}
    rt.close()
