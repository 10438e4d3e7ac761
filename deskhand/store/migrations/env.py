"""Alembic environment: runs on the connection deskhand.store.db hands it."""

from __future__ import annotations

from alembic import context

from deskhand.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - deskhand always passes its connection
    raise RuntimeError("run migrations through deskhand.store.db.upgrade()")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
