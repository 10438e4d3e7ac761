"""Tables of the web console (deskhand.console): its local users.

- ``console_users``: one row per person who may log in to /console, in one tenant, with a role
  (viewer, reviewer, admin) and a password hashed with scrypt (deskhand.console.users); the password
  itself is never stored.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, String, Table, Text

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
