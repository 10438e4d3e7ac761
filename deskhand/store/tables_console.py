"""Tables of the web console (deskhand.console): its local users and the audit log of its controls.

- ``console_users``: one row per person who may log in to /console, in one tenant, with a role
  (viewer, reviewer, admin) and a password hashed with scrypt (deskhand.console.users); the password
  itself is never stored.
- ``audit_log``: one row per change a person made to how deskhand behaves for a tenant (autonomy
  mode, threshold, kill switch, dead letter): who, when, what, old → new and why (deskhand.audit).
  Written in the same transaction as the change; never updated or deleted.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, String, Table, Text

from deskhand.store.schema import metadata

console_users = Table(
    "console_users",
    metadata,
    Column("username", String(100), primary_key=True),  # the login name, unique across tenants
    Column("tenant_id", String(64), nullable=False),
    Column("role", String(16), nullable=False),  # viewer | reviewer | admin
    Column("password_hash", Text, nullable=False),  # scrypt$N$r$p$salt$hash (base64)
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_console_users_tenant", console_users.c.tenant_id)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("actor", String(100), nullable=False),  # console:<username>, or the CLI's --by
    Column("action", String(32), nullable=False),  # mode.set | setting.set | switch.trip | switch.reset | job.…
    Column("account", String(64)),
    Column("target", String(200), nullable=False),  # what changed: acme/billing, acme:auto_threshold, job 12, …
    Column("old", Text),
    Column("new", Text),
    Column("reason", Text),
    Column("at", DateTime(timezone=True), nullable=False),
)
Index("ix_audit_log_tenant", audit_log.c.tenant_id, audit_log.c.id)
