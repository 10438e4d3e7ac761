"""Reconcile: a ticket the sync finds that no webhook announced is fed to the responder, once.

Only tickets created at or after the account's reconcile start (``settings.sync_start``: unix
seconds or ISO-8601; default: when the account was connected) — never the historical backlog. The
synthetic ``ticket_created`` event has a stable delivery id (``sync:<ticket>:created``), so a second
sync cannot record it twice; it is recorded only when no ``ticket_created`` event exists for the
ticket, and the responder answers only the first ``ticket_created`` of a ticket
(:func:`first_created_event`), so a late webhook cannot double it either. The event and its job
are written in the same transaction as the replica row.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from deskhand.model import Event, EventKind, Ticket
from deskhand.queue import PRIORITY_EVENT
from deskhand.runtime import Runtime
from deskhand.store import AccountRecord
from deskhand.store.schema import accounts, events
from deskhand.timestamps import parse_timestamp


def delivery_id(ticket_id: str) -> str:
    return f"sync:{ticket_id}:created"


def _when(value: Any) -> datetime | None:
    return None if value in (None, "") else parse_timestamp(value)


def reconcile_start(engine: Engine, account: AccountRecord) -> datetime | None:
    configured = _when(account.settings.get("sync_start"))
    if configured is not None:
        return configured
    with engine.connect() as conn:
        created = conn.execute(select(accounts.c.created_at).where(accounts.c.name == account.name)).scalar()
    if created is None:
        return None
    return created if created.tzinfo else created.replace(tzinfo=UTC)


def first_created_event(conn: Connection, account: str, ticket_id: str) -> int | None:
    """The id of the first ticket_created event recorded for this ticket (webhook or sync)."""
    q = (
        select(events.c.id)
        .where(events.c.account == account, events.c.ticket_id == ticket_id,
               events.c.kind == EventKind.TICKET_CREATED.value)
        .order_by(events.c.id)
        .limit(1)
    )
    found = conn.execute(q).scalar()
    return int(found) if found is not None else None


class Reconciler:
    def __init__(self, rt: Runtime, account: AccountRecord) -> None:
        self.rt = rt
        self.account = account
        self.start = reconcile_start(rt.store.engine, account)

    def feed(self, conn: Connection, ticket: Ticket) -> bool:
        """Record + enqueue a synthetic ticket_created for `ticket` if it needs one; True if it did."""
        if self.start is None or ticket.created_at is None or ticket.created_at < self.start:
            return False
        if first_created_event(conn, self.account.name, ticket.id) is not None:
            return False
        event = Event(
            provider=self.account.provider,
            account=self.account.name,
            kind=EventKind.TICKET_CREATED,
            ticket_id=ticket.id,
            delivery_id=delivery_id(ticket.id),
            occurred_at=ticket.created_at,
            payload={"source": "sync", "reason": "no webhook announced this ticket"},
        )
        event_id = self.rt.store.record_event(conn, self.account.tenant_id, event)
        if event_id is None:
            return False
        self.rt.queue.enqueue(conn, "handle_event", {"event_id": event_id}, dedupe_key=f"event:{event_id}",
                              priority=PRIORITY_EVENT)
        return True
