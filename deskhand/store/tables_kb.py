"""Tables of the knowledge area: named knowledge sources (a folder added with `deskhand kb add`)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, String, Table

from deskhand.store.schema import metadata

kb_sources = Table(
    "kb_sources",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("name", String(64), primary_key=True),  # the source's articles are keyed "<name>/<relative path>"
    Column("path", String(1000), nullable=False),  # the folder it was last added from (absolute)
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

kb_versions = Table(
    "kb_versions",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    # +1 in the transaction of every article stored or removed: a worker compares one row per query, and
    # reads the articles' hashes (to find what changed) only when it moved
    Column("version", Integer, nullable=False),
)
