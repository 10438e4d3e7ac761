"""The audit log: who changed what for a tenant, when, old → new, and why.

Every control a person changes from the console (autonomy mode, thresholds, kill switches, dead
letters) writes one row in the same transaction as the change, so a change without its audit row
(or the reverse) cannot happen. Rows are only ever added. `entries()` reads one tenant's rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from deskhand.store.store import now
from deskhand.store.tables_console import audit_log

ACTIONS = ("mode.set", "setting.set", "switch.trip", "switch.reset", "job.retry", "job.drop")


def record(conn: Connection, *, tenant_id: str, actor: str, action: str, target: str, account: str | None = None,
           old: Any = None, new: Any = None, reason: str | None = None) -> None:
    """Add one audit row in `conn`'s transaction."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    conn.execute(insert(audit_log).values(
        tenant_id=tenant_id, actor=actor[:100], action=action, account=account, target=target[:200],
        old=None if old is None else str(old), new=None if new is None else str(new),
        reason=(reason or None) and reason[:2000], at=now()))


def entries(engine: Engine, tenant_id: str, *, account: str | None = None, action: str | None = None,
            limit: int = 200) -> list[dict[str, Any]]:
    """The tenant's audit rows, newest first."""
    c = audit_log.c
    q = select(audit_log).where(c.tenant_id == tenant_id).order_by(c.id.desc()).limit(max(1, limit))
    if account:
        q = q.where(c.account == account)
    if action:
        q = q.where(c.action == action)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q).all()]
