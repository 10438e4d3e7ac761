"""The replica's named SQL: tickets (with tombstones), comments, users, teams; checkpoints and leases.

A ticket and its comments are written in one transaction with (for the last batch of a page) the
feed's checkpoint, so a process killed anywhere leaves either both or neither: a resumed sync redoes
at most one page and skips what it already holds (same id and same updated time).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, insert, or_, select, update

from deskhand.model import Comment, Team, Ticket, User
from deskhand.store.tables_sync import (
    replica_comments as rc,
)
from deskhand.store.tables_sync import (
    replica_teams as rteams,
)
from deskhand.store.tables_sync import (
    replica_tickets as rt,
)
from deskhand.store.tables_sync import (
    replica_users as ru,
)
from deskhand.store.tables_sync import (
    sync_state as ss,
)


def iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def ticket_hash(fields: dict[str, Any], comments: Sequence[dict[str, Any]]) -> str:
    """Content checksum of one ticket as the replica holds it (also used for the ground truth)."""
    blob = json.dumps([fields, sorted(comments, key=lambda c: c["id"])], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def hashed_fields(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "subject": ticket.subject,
        "raw_status": ticket.raw_status,
        "tags": sorted(ticket.tags),
        "updated_at": iso(ticket.updated_at),
    }


def comment_row(c: Comment) -> dict[str, Any]:
    return {"id": c.id, "body": c.body, "visibility": c.visibility.value, "author_id": c.author_id,
            "created_at": iso(c.created_at)}


def hashed_comment(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "body": row["body"], "public": row["visibility"] == "public"}


@dataclass(frozen=True, slots=True)
class Held:
    updated_at: str | None
    deleted: bool


def held(conn: Connection, account: str, ids: Iterable[str]) -> dict[str, Held]:
    ids = list(ids)
    if not ids:
        return {}
    q = select(rt.c.id, rt.c.updated_at, rt.c.deleted).where(rt.c.account == account, rt.c.id.in_(ids))
    return {r.id: Held(r.updated_at, bool(r.deleted)) for r in conn.execute(q).all()}


def put_ticket(conn: Connection, account: str, tenant_id: str, ticket: Ticket, comments: Sequence[Comment],
               now: float) -> None:
    rows = [comment_row(c) for c in comments]
    values = dict(
        tenant_id=tenant_id, subject=ticket.subject, description=ticket.description, status=ticket.status.value,
        raw_status=ticket.raw_status, priority=ticket.priority.value if ticket.priority else None,
        requester_id=ticket.requester.id if ticket.requester else None, assignee_id=ticket.assignee_id,
        team_id=ticket.team_id, tags=list(ticket.tags), created_at=iso(ticket.created_at),
        updated_at=iso(ticket.updated_at), deleted=False,
        content_hash=ticket_hash(hashed_fields(ticket), [hashed_comment(r) for r in rows]), synced_at=now,
    )
    key = and_(rt.c.account == account, rt.c.id == ticket.id)
    if conn.execute(update(rt).where(key).values(**values)).rowcount == 0:
        conn.execute(insert(rt).values(account=account, id=ticket.id, **values))
    conn.execute(delete(rc).where(rc.c.account == account, rc.c.ticket_id == ticket.id))
    if rows:
        conn.execute(insert(rc), [{"account": account, "ticket_id": ticket.id, **r} for r in rows])


def put_tombstone(conn: Connection, account: str, tenant_id: str, ticket_id: str, updated_at: str | None,
                  now: float) -> None:
    """A ticket deleted (or gone) at the provider: kept as a tombstone, its comments dropped."""
    key = and_(rt.c.account == account, rt.c.id == ticket_id)
    values = dict(deleted=True, synced_at=now, updated_at=updated_at, content_hash="deleted")
    if conn.execute(update(rt).where(key).values(**values)).rowcount == 0:
        conn.execute(insert(rt).values(
            account=account, id=ticket_id, tenant_id=tenant_id, subject="", description="", status="closed",
            raw_status="deleted", tags=[], **values))
    conn.execute(delete(rc).where(rc.c.account == account, rc.c.ticket_id == ticket_id))


def touch(conn: Connection, account: str, ids: Sequence[str], now: float) -> None:
    """Mark tickets as seen by this pass (a full pass tombstones what it never saw)."""
    if ids:
        conn.execute(update(rt).where(rt.c.account == account, rt.c.id.in_(list(ids))).values(synced_at=now))


def tombstone_unseen(engine: Engine, account: str, *, seen_since: float | None = None,
                     live_ids: set[str] | None = None, now: float) -> int:
    """Tombstone live rows not seen since `seen_since`, or not among `live_ids`; how many."""
    with engine.begin() as conn:
        live = conn.execute(select(rt.c.id, rt.c.synced_at).where(rt.c.account == account, rt.c.deleted.is_(False)))
        gone = [r.id for r in live if (live_ids is not None and r.id not in live_ids)
                or (seen_since is not None and r.synced_at < seen_since)]
        for i in range(0, len(gone), 500):
            chunk = gone[i:i + 500]
            conn.execute(update(rt).where(rt.c.account == account, rt.c.id.in_(chunk))
                         .values(deleted=True, content_hash="deleted", synced_at=now))
            conn.execute(delete(rc).where(rc.c.account == account, rc.c.ticket_id.in_(chunk)))
    return len(gone)


def put_directory(engine: Engine, account: str, users: Sequence[User], teams: Sequence[Team]) -> None:
    with engine.begin() as conn:
        conn.execute(delete(ru).where(ru.c.account == account))
        conn.execute(delete(rteams).where(rteams.c.account == account))
        if users:
            conn.execute(insert(ru), [{"account": account, "id": u.id, "name": u.name, "email": u.email,
                                       "role": u.role.value} for u in {u.id: u for u in users}.values()])
        if teams:
            conn.execute(insert(rteams), [{"account": account, "id": t.id, "name": t.name}
                                          for t in {t.id: t for t in teams}.values()])


def summary(engine: Engine, account: str) -> dict[str, Any]:
    """Counts and a checksum over the live tickets' content hashes (id order)."""
    with engine.connect() as conn:
        rows = conn.execute(select(rt.c.id, rt.c.content_hash, rt.c.deleted).where(rt.c.account == account)).all()
        comments = conn.execute(select(func.count()).select_from(rc).where(rc.c.account == account)).scalar_one()
        users = conn.execute(select(func.count()).select_from(ru).where(ru.c.account == account)).scalar_one()
        teams = conn.execute(select(func.count()).select_from(rteams).where(rteams.c.account == account)).scalar_one()
    live = sorted((r.id, r.content_hash) for r in rows if not r.deleted)
    return {
        "tickets": len(live),
        "deleted": sum(1 for r in rows if r.deleted),
        "comments": int(comments),
        "users": int(users),
        "teams": int(teams),
        "checksum": checksum(live),
        "deleted_ids": sorted(r.id for r in rows if r.deleted),
    }


def checksum(pairs: Iterable[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for tid, h in sorted(pairs):
        digest.update(f"{tid}:{h}\n".encode())
    return digest.hexdigest()


# -- checkpoint and lease ------------------------------------------------------------------------

def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_dead(owner: str | None) -> bool:
    """A lease held by a process of this host that no longer exists (killed -9) may be taken over."""
    if not owner or ":" not in owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def take_lease(engine: Engine, account: str, owner: str, now: float, ttl_s: float = 120.0) -> bool:
    with engine.begin() as conn:
        if conn.execute(select(ss.c.account).where(ss.c.account == account)).first() is None:
            conn.execute(insert(ss).values(account=account, checkpoint=None, backfilled=False, updated_at=now))
        row = conn.execute(select(ss.c.lease_owner).where(ss.c.account == account)).first()
        dead = _owner_dead(row.lease_owner if row else None)
        free = or_(ss.c.lease_until.is_(None), ss.c.lease_until < now, ss.c.lease_owner == owner)
        stmt = update(ss).where(ss.c.account == account, free if not dead else ss.c.account == account)
        return conn.execute(stmt.values(lease_owner=owner, lease_until=now + ttl_s)).rowcount == 1


def release_lease(engine: Engine, account: str, owner: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(ss).where(ss.c.account == account, ss.c.lease_owner == owner)
                     .values(lease_owner=None, lease_until=None))


def load_state(engine: Engine, account: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(ss).where(ss.c.account == account)).first()
    return dict(row._mapping) if row else {"checkpoint": None, "backfilled": False}


def save_checkpoint(conn: Connection, account: str, checkpoint: dict[str, Any] | None, now: float, *,
                    owner: str, ttl_s: float = 120.0, backfilled: bool | None = None) -> None:
    values: dict[str, Any] = dict(checkpoint=checkpoint, updated_at=now, lease_until=now + ttl_s)
    if backfilled is not None:
        values["backfilled"] = backfilled
    conn.execute(update(ss).where(ss.c.account == account, ss.c.lease_owner == owner).values(**values))


def finish_run(engine: Engine, account: str, stats: dict[str, Any], now: float) -> None:
    with engine.begin() as conn:
        conn.execute(update(ss).where(ss.c.account == account).values(last_run_at=now, last_stats=stats))
