"""Sync under fire: killed (fail point, SIGKILL at a random moment) and resumed in another process;
a 429 storm from the simulator during a backfill while replies keep flowing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from deskhand.bench.sync import zendesk_truth
from deskhand.model import Action, ActionKind
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.sim import zendesk
from deskhand.sim.zendesk_state import ZendeskState
from deskhand.store.tables_sync import replica_comments, replica_tickets
from deskhand.sync import replica
from deskhand.sync.engine import AccountSync, sync_account

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def sim() -> Iterator[zendesk.ZendeskSim]:
    state = ZendeskState()
    state.seed_tickets(300, random.Random(11))
    with zendesk.start(state, rate_limit=150, window_s=1.0, incremental_lag_s=0) as server:
        yield server


def open_rt(db: Path, key: str) -> Runtime:
    return Runtime.open(Settings(database_url=f"sqlite:///{db}", secret_key=key))


def connect(rt: Runtime, url: str) -> None:
    rt.store.save_account("acme", "zendesk", {"subdomain": "acme", "email": "a@acme.test",
                                              "api_token": zendesk.DEFAULT_TOKEN, "base_url": url})


def sync_process(db: Path, key: str, **env: str) -> subprocess.Popen[bytes]:
    environ = {**os.environ, "DESKHAND_DATABASE_URL": f"sqlite:///{db}", "DESKHAND_SECRET_KEY": key, **env}
    return subprocess.Popen([sys.executable, "-m", "deskhand.cli", "sync", "acme", "--json"], cwd=REPO, env=environ,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def assert_equal_and_unique(rt: Runtime, state: ZendeskState) -> None:
    pairs, _, comments = zendesk_truth(state)
    got = replica.summary(rt.store.engine, "acme")
    assert (got["tickets"], got["comments"], got["checksum"]) == (len(pairs), comments, replica.checksum(pairs))
    with rt.store.engine.connect() as c:
        rows = c.execute(select(func.count()).select_from(replica_tickets)).scalar_one()
        distinct = c.execute(select(func.count(func.distinct(replica_comments.c.id)))).scalar_one()
        total = c.execute(select(func.count()).select_from(replica_comments)).scalar_one()
    assert rows == len(pairs) and distinct == total == comments


def test_a_sync_killed_at_a_fail_point_resumes_without_loss_or_duplicates(tmp_path: Path, key: str, sim) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "resume.db"
    rt = open_rt(db, key)
    connect(rt, sim.url)
    proc = sync_process(db, key, DESKHAND_CRASH_AT="sync_after_batch")
    assert proc.wait(timeout=60) == 137
    assert 0 < replica.summary(rt.store.engine, "acme")["tickets"] < 300  # died part-way
    stats = sync_account(rt, "acme")  # the dead process's lease is taken over at once
    assert stats.done and stats.written < 300
    assert_equal_and_unique(rt, sim.state)
    rt.close()


@pytest.mark.parametrize("seed", [1, 2], ids=["kill-a", "kill-b"])
def test_a_sync_killed_with_sigkill_at_a_random_moment_resumes_equal(tmp_path: Path, key: str, sim, seed: int) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "kill.db"
    rt = open_rt(db, key)
    connect(rt, sim.url)
    proc = sync_process(db, key)
    time.sleep(random.Random(seed).uniform(1.0, 3.0))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    sync_account(rt, "acme")
    assert_equal_and_unique(rt, sim.state)
    rt.close()


def test_a_429_storm_during_a_backfill_does_not_stop_replies(tmp_path: Path, key: str, sim) -> None:  # type: ignore[no-untyped-def]
    rt = open_rt(tmp_path / "storm.db", key)
    connect(rt, sim.url)
    account = rt.store.get_account("acme")
    stop = threading.Event()

    def rogue() -> None:  # another tool on the same helpdesk account, ignoring our budget: 429s nobody warned of
        with httpx.Client(auth=("x@acme.test/token", zendesk.DEFAULT_TOKEN)) as c:
            while not stop.is_set():
                c.get(f"{sim.url}/api/v2/groups.json")

    backfill = AccountSync(rt, account)
    outcome: dict[str, object] = {}
    sync_thread = threading.Thread(target=lambda: outcome.setdefault("stats", backfill.run()))
    storm = threading.Thread(target=rogue)
    sync_thread.start()
    time.sleep(0.5)
    storm.start()
    open_ids = [str(i) for i, t in sim.state.tickets.items() if t["status"] != "closed"][:8]
    latencies = []
    for n, tid in enumerate(open_ids):  # the responder's write-back, while the backfill runs
        start = time.monotonic()
        rt.connector(account).perform(Action(ActionKind.REPLY, tid, key=f"r{n}", params={"body": f"reply {n}"}))
        latencies.append(time.monotonic() - start)
        if n == 3:
            time.sleep(1.5)
            stop.set()
    stop.set()
    storm.join()
    sync_thread.join(timeout=120)
    limiter = rt.connector(account).http.limiter
    assert limiter.stats["blocks"] > 0  # the storm was felt (429 + Retry-After) ...
    assert max(latencies) < 5.0  # ... yet every reply went out within a few Retry-Afters (loaded CI: slack)
    replies = [c for tid in open_ids for c in sim.state.comments[int(tid)] if c["body"].startswith("reply ")]
    assert len(replies) == len(open_ids)
    assert outcome["stats"].done  # type: ignore[attr-defined]
    sync_account(rt, "acme")  # the replies changed tickets: the next incremental catches them
    assert_equal_and_unique(rt, sim.state)
    rt.close()
