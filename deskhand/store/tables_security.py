"""Tables of the security area (issue 14): reviews of knowledge articles.

One row per article that needed a person's eye: an article derived from another customer's solved
ticket that a human ``approved`` (only then may it support an automatic reply on its own), or an
article ``flagged`` at ingest because its text addresses an assistant (excluded from retrieval).
A review holds for the content hash it was made on: a changed article is reviewed again.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, String, Table, Text

from deskhand.store.schema import metadata

kb_reviews = Table(
    "kb_reviews",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("source_id", String(300), primary_key=True),
    Column("status", String(16), nullable=False),  # approved | flagged
    Column("content_hash", String(64), nullable=False),  # the article's hash when reviewed/flagged
    Column("reason", Text),
    Column("actor", String(100), nullable=False),  # who approved; "ingest" for a flag
    Column("at", DateTime(timezone=True), nullable=False),
)
