"""Tables of the LLM/triage area: each account's learned taxonomy (offline classifier + few-shot pool)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Integer, LargeBinary, String, Table

from deskhand.store.schema import metadata

taxonomy_models = Table(
    "taxonomy_models",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),  # 1, 2, … per account: caches key on it
    Column("examples", Integer, nullable=False),  # size of the labelled history it learned from
    Column("categories", JSON, nullable=False),  # category names, in the model's order
    Column("shots", JSON, nullable=False),  # few-shot pool for an LLM: [[text, category], …]
    Column("model", LargeBinary, nullable=False),  # TaxonomyModel.to_bytes() (npz, no pickle)
    Column("created_at", DateTime(timezone=True), nullable=False),
)
