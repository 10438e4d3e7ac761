"""One sync of one account into the replica: backfill (from the start) or incremental (from the
stored checkpoint), in the backfill lane of the rate budget, resumable after a kill at any point.

Per page of the change feed: tickets in batches; a ticket whose id and updated time the replica
already holds is skipped (no comment requests); a changed one is fetched with its comments and
written with them in one transaction; the checkpoint moves with the page's last batch. Tombstones
(``sync.deleted``) and comments that 404 (deleted meanwhile) become tombstones; a full pass also
tombstones what it never saw (``--full``), and a ``sync.sweep`` listing of live ids does the same
for feeds that never show deletions. New tickets created after the reconcile start that no webhook
announced are fed to the responder (:mod:`deskhand.sync.reconcile`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from deskhand.errors import ConfigError, DeskhandError, ResourceNotFound
from deskhand.faults import crash_point
from deskhand.limits import BACKFILL, using_lane
from deskhand.model import Comment, Ticket
from deskhand.providers import records
from deskhand.providers.connector import Connector
from deskhand.providers.definition import SyncSpec
from deskhand.providers.fields import get_path, map_key
from deskhand.runtime import Runtime
from deskhand.store import AccountRecord
from deskhand.sync import replica
from deskhand.sync.feeds import Page, pages
from deskhand.sync.reconcile import Reconciler

log = logging.getLogger(__name__)
BATCH = 50


class SyncBusy(DeskhandError):
    """Another process is syncing this account right now."""


@dataclass
class SyncStats:
    account: str
    mode: str
    pages: int = 0
    seen: int = 0
    written: int = 0
    skipped: int = 0
    comments: int = 0
    deleted: int = 0
    reconciled: int = 0
    done: bool = False
    wall_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Progress = Callable[[SyncStats], None]


def _spec(conn: Connector) -> SyncSpec:
    if conn.definition.sync is None:
        raise ConfigError(f"{conn.provider} definition has no sync: section; it cannot be synced yet")
    return conn.definition.sync


class AccountSync:
    def __init__(self, rt: Runtime, account: AccountRecord, *, clock: Callable[[], float] = time.time,
                 progress: Progress | None = None, owner: str | None = None) -> None:
        self.rt = rt
        self.account = account
        self.conn = rt.connector(account)
        self.spec = _spec(self.conn)
        self.clock = clock
        self.progress = progress
        self.owner = owner or replica.owner_name()
        self.reconciler = Reconciler(rt, account)

    def run(self, *, full: bool = False) -> SyncStats:
        engine = self.rt.store.engine
        if not replica.take_lease(engine, self.account.name, self.owner, self.clock()):
            raise SyncBusy(f"account {self.account.name!r} is being synced by another process")
        started = time.monotonic()
        state = replica.load_state(engine, self.account.name)
        checkpoint = None if full else state.get("checkpoint")
        stats = SyncStats(self.account.name, "full" if full or not state.get("backfilled") else "incremental")
        pass_start = self.clock()
        if full and state.get("checkpoint") and (state.get("checkpoint") or {}).get("pass_start"):
            pass_start = float(state["checkpoint"]["pass_start"])  # resuming an interrupted full pass
        try:
            directory = _Background(self._directory)  # its endpoints have budgets of their own
            with using_lane(BACKFILL):
                for page in pages(self.conn, self.spec.feed, _feed_point(checkpoint)):
                    self._page(page, stats, full=full, pass_start=pass_start)
                    if page.done:
                        break
                if full:
                    stats.deleted += replica.tombstone_unseen(engine, self.account.name, seen_since=pass_start,
                                                              now=self.clock())
                if self.spec.sweep is not None and (full or stats.mode == "full"):
                    stats.deleted += self._sweep()
            directory.join()
            stats.done = True
        finally:
            stats.wall_s = round(time.monotonic() - started, 3)
            replica.finish_run(engine, self.account.name, stats.as_dict(), self.clock())
            replica.release_lease(engine, self.account.name, self.owner)
        log.info("sync.done account=%s %s", self.account.name, stats.as_dict())
        return stats

    def _directory(self) -> None:
        with using_lane(BACKFILL):
            self._read_directory()

    def _read_directory(self) -> None:
        users = self.conn.list_users() if self.conn.definition.resources.get("user") else []
        teams = self.conn.list_teams() if self.conn.definition.resources.get("team") else []
        replica.put_directory(self.rt.store.engine, self.account.name, users, teams)

    def _page(self, page: Page, stats: SyncStats, *, full: bool, pass_start: float) -> None:
        stats.pages += 1
        recs = page.records
        checkpoint = {**page.checkpoint, **({"pass_start": pass_start} if full else {})}
        for i in range(0, max(len(recs), 1), BATCH):
            batch = recs[i:i + BATCH]
            last = i + BATCH >= len(recs)
            self._batch(batch, stats, checkpoint if last else None, backfilled=page.done if last else None)
            crash_point("sync_after_batch")
            if self.progress:
                self.progress(stats)

    def _batch(self, batch: list[Any], stats: SyncStats, checkpoint: dict[str, Any] | None, *,
               backfilled: bool | None) -> None:
        name, tenant = self.account.name, self.account.tenant_id
        reader = self.conn.readers["ticket"]
        tickets = [(r, records.read_ticket(reader, r, url_values=self.conn.values)) for r in batch]
        with self.rt.store.engine.connect() as c:
            known = replica.held(c, name, [t.id for _, t in tickets])
        fetched: list[tuple[Ticket, list[Comment] | None]] = []
        unchanged: list[str] = []
        for raw, ticket in tickets:
            stats.seen += 1
            gone = self._is_tombstone(raw)
            have = known.get(ticket.id)
            if have and have.updated_at == replica.iso(ticket.updated_at) and have.deleted == gone:
                unchanged.append(ticket.id)
                continue
            fetched.append((ticket, None if gone else self._comments(raw, ticket)))
        now = self.clock()
        with self.rt.store.transaction() as c:
            replica.touch(c, name, unchanged, now)
            for ticket, comments in fetched:
                if comments is None:
                    replica.put_tombstone(c, name, tenant, ticket.id, replica.iso(ticket.updated_at), now)
                    stats.deleted += 1
                    continue
                replica.put_ticket(c, name, tenant, ticket, comments, now)
                stats.comments += len(comments)
                if self.reconciler.feed(c, ticket):
                    stats.reconciled += 1
            if checkpoint is not None:
                replica.save_checkpoint(c, name, checkpoint, now, owner=self.owner, backfilled=backfilled or None)
        stats.written += len(fetched)
        stats.skipped += len(unchanged)

    def _is_tombstone(self, raw: Any) -> bool:
        return bool(self.spec.deleted) and all(
            map_key(get_path(raw, path)) == map_key(value) for path, value in self.spec.deleted.items()
        )

    def _comments(self, raw: Any, ticket: Ticket) -> list[Comment] | None:
        """The ticket's comments (inline when the feed carries them all); None when it is gone."""
        if self.spec.comments != "per_ticket":
            inline = get_path(raw, self.spec.comments)
            total = get_path(raw, self.spec.comments_total) if self.spec.comments_total else None
            if isinstance(inline, list) and (total is None or int(total) <= len(inline)):
                reader = self.conn.readers["comment"]
                return [records.read_comment(reader, r, ticket.id) for r in inline]
        try:
            return self.conn.list_comments(ticket.id)
        except ResourceNotFound:
            return None

    def _sweep(self) -> int:
        assert self.spec.sweep is not None
        reader = self.conn.readers["ticket"]
        live = {str(reader.required(reader.values(r), "id", r)) for r in self.conn.iter_records(self.spec.sweep, {})}
        return replica.tombstone_unseen(self.rt.store.engine, self.account.name, live_ids=live, now=self.clock())


class _Background:
    """Run a function on a thread; join() re-raises what it raised."""

    def __init__(self, fn: Callable[[], None]) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), name="deskhand-sync-directory", daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except BaseException as exc:  # handed to join()
            self._error = exc

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def _feed_point(checkpoint: dict[str, Any] | None) -> dict[str, Any] | None:
    if not checkpoint:
        return None
    point = {k: v for k, v in checkpoint.items() if k != "pass_start"}
    return point or None


def sync_account(rt: Runtime, name: str, *, full: bool = False, progress: Progress | None = None,
                 clock: Callable[[], float] = time.time) -> SyncStats:
    """Sync one account (see the module docstring); SyncBusy when another process holds it."""
    account = rt.store.get_account(name)
    return AccountSync(rt, account, clock=clock, progress=progress).run(full=full)
