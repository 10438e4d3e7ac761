"""deskhand.sync against the real simulators over loopback and a real SQLite store."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.sim import jira, registry, zendesk
from deskhand.sim.jira_seed import seed_issues
from deskhand.sim.jira_state import DEFAULT_EMAIL, DEFAULT_TOKEN, JiraState
from deskhand.sim.zendesk_state import ZendeskState
from deskhand.store.schema import events, jobs
from deskhand.store.tables_sync import replica_comments, replica_tickets
from deskhand.sync import replica
from deskhand.sync.engine import SyncBusy, sync_account
from deskhand.sync.loop import sync_round


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'sync.db'}", secret_key=Fernet.generate_key().decode())
    runtime = Runtime.open(settings)
    yield runtime
    runtime.close()


@pytest.fixture
def zd() -> Iterator[zendesk.ZendeskSim]:
    state = ZendeskState()
    state.seed_tickets(60, random.Random(3))
    with zendesk.start(state, rate_limit=100_000, incremental_lag_s=0) as sim:
        yield sim


@pytest.fixture
def jr() -> Iterator[jira.JiraSimServer]:
    state = JiraState.default()
    seed_issues(state, 60, random.Random(3), now=time.time())
    server = jira.start(state)
    yield server
    server.stop()


def connect_zendesk(rt: Runtime, url: str, **settings: Any) -> None:
    rt.store.save_account("acme", "zendesk", {"subdomain": "acme", "email": "a@acme.test",
                                              "api_token": zendesk.DEFAULT_TOKEN, "base_url": url}, settings=settings)


def connect_jira(rt: Runtime, url: str) -> None:
    rt.store.save_account("acme", "jira", {"site": "acme", "email": DEFAULT_EMAIL, "api_token": DEFAULT_TOKEN,
                                           "base_url": url})


def equal_to_truth(rt: Runtime, truth: tuple[list[tuple[str, str]], set[str], int]) -> bool:
    pairs, deleted, comments = truth
    got = replica.summary(rt.store.engine, "acme")
    return (got["tickets"], got["checksum"], got["comments"], set(got["deleted_ids"]) >= deleted) == (
        len(pairs), replica.checksum(pairs), comments, True)


def test_zendesk_backfill_equals_the_simulator_and_a_second_run_reads_nothing_again(rt: Runtime, zd: Any) -> None:
    connect_zendesk(rt, zd.url)
    first = sync_account(rt, "acme")
    assert (first.mode, first.written, first.done) == ("full", 60, True)
    assert equal_to_truth(rt, registry.get("zendesk").truth(zd.state))
    summary = replica.summary(rt.store.engine, "acme")
    assert summary["users"] == len(zd.state.users) and summary["teams"] == len(zd.state.groups)
    second = sync_account(rt, "acme")
    assert (second.mode, second.written, second.seen) == ("incremental", 0, 0)


def test_zendesk_updates_and_deletions_reach_the_replica_without_ghosts(rt: Runtime, zd: Any) -> None:
    connect_zendesk(rt, zd.url)
    sync_account(rt, "acme")
    ids = sorted(i for i, t in zd.state.tickets.items() if t["status"] != "closed")
    zd.state.update_ticket(ids[0], {"comment": {"body": "One more thing", "public": True}}, zd.state.admin)
    zd.state.delete_ticket(ids[1], zd.state.admin)
    stats = sync_account(rt, "acme")
    assert (stats.written, stats.deleted) == (2, 1)
    assert equal_to_truth(rt, registry.get("zendesk").truth(zd.state))
    with rt.store.engine.connect() as c:
        ghost = c.execute(select(func.count()).select_from(replica_comments)
                          .where(replica_comments.c.ticket_id == str(ids[1]))).scalar_one()
    assert ghost == 0 and str(ids[1]) in replica.summary(rt.store.engine, "acme")["deleted_ids"]


def test_a_full_pass_tombstones_records_the_feed_no_longer_lists(rt: Runtime, zd: Any) -> None:
    connect_zendesk(rt, zd.url)
    sync_account(rt, "acme")
    purged = sorted(zd.state.tickets)[5]
    with zd.state.lock:  # purged for good: not even a tombstone left in the export
        del zd.state.tickets[purged]
    stats = sync_account(rt, "acme", full=True)
    assert stats.deleted == 1 and stats.written == 0
    assert str(purged) in replica.summary(rt.store.engine, "acme")["deleted_ids"]


def test_jira_syncs_on_updated_with_overlap_and_dedupes_by_id_and_updated(rt: Runtime, jr: Any) -> None:
    connect_jira(rt, jr.url)
    first = sync_account(rt, "acme")
    assert first.written == 60 and equal_to_truth(rt, registry.get("jira").truth(jr.state))
    issue = next(iter(jr.state.issues.values()))
    from deskhand.sim.jira_adf import text_to_adf

    jr.state.add_comment(issue, author=issue.reporter, body=text_to_adf("Still broken"),
                         now=datetime.now(UTC))
    again = sync_account(rt, "acme")
    assert again.written == 1  # the overlap re-reads a few, the replica skips them
    assert equal_to_truth(rt, registry.get("jira").truth(jr.state))


def test_jira_deleted_issues_are_found_by_the_sweep_of_a_full_pass(rt: Runtime, jr: Any) -> None:
    connect_jira(rt, jr.url)
    sync_account(rt, "acme")
    gone = next(iter(jr.state.issues.values()))
    with jr.state.lock:
        del jr.state.issues[gone.id]
    assert sync_account(rt, "acme").deleted == 0  # JQL cannot show a deletion
    assert sync_account(rt, "acme", full=True).deleted == 1
    assert gone.key in replica.summary(rt.store.engine, "acme")["deleted_ids"]
    assert equal_to_truth(rt, registry.get("jira").truth(jr.state))


def test_only_tickets_created_after_the_start_are_fed_to_the_responder_once(rt: Runtime, zd: Any) -> None:
    start = time.time() - 10 * 86400
    connect_zendesk(rt, zd.url, sync_start=start)
    first = sync_account(rt, "acme")
    recent = [t for t in zd.state.tickets.values() if t["_created"] >= start]
    assert first.reconciled == len(recent) > 0
    fresh, _ = zd.state.create_ticket({"subject": "Lost webhook", "comment": {"body": "hello?"}}, zd.state.admin)
    assert sync_account(rt, "acme").reconciled == 1
    assert sync_account(rt, "acme", full=True).reconciled == 0  # stable delivery id: never twice
    with rt.store.engine.connect() as c:
        created = c.execute(select(events.c.ticket_id).where(events.c.kind == "ticket_created")).scalars().all()
        queued = c.execute(select(func.count()).select_from(jobs).where(jobs.c.kind == "handle_event")).scalar_one()
    assert sorted(created) == sorted({str(t["id"]) for t in recent} | {str(fresh["id"])})
    assert queued == len(created)


def test_a_late_webhook_after_a_reconcile_is_not_answered_twice(rt: Runtime, zd: Any) -> None:
    from deskhand.model import Event, EventKind
    from deskhand.responder.handle import _answered_before

    connect_zendesk(rt, zd.url, sync_start=time.time() - 60)
    ticket, _ = zd.state.create_ticket({"subject": "Where is my order", "comment": {"body": "?"}}, zd.state.admin)
    assert sync_account(rt, "acme").reconciled == 1
    late = Event(provider="zendesk", account="acme", kind=EventKind.TICKET_CREATED, ticket_id=str(ticket["id"]),
                 delivery_id="zen-event-123")
    with rt.store.transaction() as c:
        late_id = rt.store.record_event(c, "default", late)
    synthetic = rt.store.list_events(account="acme")[-1]
    assert late_id is not None and synthetic.id != late_id
    assert _answered_before(rt, rt.store.get_event(late_id))
    assert not _answered_before(rt, rt.store.get_event(synthetic.id))


def test_one_sync_per_account_at_a_time(rt: Runtime, zd: Any) -> None:
    connect_zendesk(rt, zd.url)
    assert replica.take_lease(rt.store.engine, "acme", "otherhost:1", time.time())
    with pytest.raises(SyncBusy):
        sync_account(rt, "acme")
    assert sync_round(rt) == {"acme": "busy"}
    replica.release_lease(rt.store.engine, "acme", "otherhost:1")
    assert sync_round(rt)["acme"].startswith("60 written")


def test_the_replica_holds_no_duplicate_rows(rt: Runtime, zd: Any) -> None:
    connect_zendesk(rt, zd.url)
    for full in (False, True, True):
        sync_account(rt, "acme", full=full)
    with rt.store.engine.connect() as c:
        rows = c.execute(select(func.count()).select_from(replica_tickets)).scalar_one()
    assert rows == 60
