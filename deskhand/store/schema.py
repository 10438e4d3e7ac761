"""The store's tables (SQLAlchemy Core). Migrations in migrations/versions create exactly these;
tests/test_store.py checks that the two never drift apart."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("config_sealed", LargeBinary, nullable=False),  # connection values, encrypted (Fernet)
    Column("settings", JSON, nullable=False),  # thresholds, escalation group, … (no secrets)
    Column("overrides", JSON, nullable=True),  # the account's values of its definition's overrides
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("account", String(64), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("ticket_id", String(64), nullable=False),
    Column("delivery_id", String(200), nullable=False),
    Column("comment_id", String(64)),
    Column("author_id", String(64)),
    Column("occurred_at", DateTime(timezone=True)),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("payload", JSON, nullable=False),
    UniqueConstraint("account", "delivery_id", name="uq_events_account_delivery"),
)
Index("ix_events_ticket", events.c.account, events.c.ticket_id)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("dedupe_key", String(200), unique=True),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # queued | running | done | dead
    Column("priority", Integer, nullable=False),  # lower runs first
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("run_at", Float, nullable=False),  # unix seconds
    Column("lease_until", Float),
    Column("lease_owner", String(100)),
    Column("last_error", Text),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)
Index("ix_jobs_claim", jobs.c.status, jobs.c.priority, jobs.c.run_at)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("account", String(64), nullable=False),
    Column("event_id", Integer, ForeignKey("events.id"), nullable=False, unique=True),
    Column("ticket_id", String(64), nullable=False),
    Column("route", String(16), nullable=False),
    Column("category", String(64)),
    Column("urgency", String(16)),
    Column("confidence", Float, nullable=False),
    Column("rules", JSON, nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("evidence", JSON, nullable=False),  # triage scores, sources with scores
    Column("reply", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_decisions_ticket", decisions.c.account, decisions.c.ticket_id)

actions = Table(
    "actions",
    metadata,
    Column("key", String(200), primary_key=True),  # idempotency key: event + action kind
    Column("decision_id", Integer, ForeignKey("decisions.id"), nullable=False),
    Column("account", String(64), nullable=False),
    Column("ticket_id", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("params", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # planned | started | done | failed
    Column("result", JSON),
    Column("error", Text),
    Column("started_at", DateTime(timezone=True)),
    Column("done_at", DateTime(timezone=True)),
)
Index("ix_actions_decision", actions.c.decision_id, actions.c.seq)

kb_articles = Table(
    "kb_articles",
    metadata,
    Column("tenant_id", String(64), nullable=False, primary_key=True),
    Column("source_id", String(300), nullable=False, primary_key=True),
    Column("title", String(300), nullable=False),
    Column("url", String(500)),
    Column("content_hash", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

kb_chunks = Table(
    "kb_chunks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("source_id", String(300), nullable=False),
    Column("ordinal", Integer, nullable=False),
    Column("kind", String(32), nullable=False),  # knowledge_base | resolved_ticket
    Column("title", String(300), nullable=False),
    Column("heading", String(500)),
    Column("url", String(500)),
    Column("text", Text, nullable=False),
)
Index("ix_kb_chunks_tenant", kb_chunks.c.tenant_id, kb_chunks.c.source_id)
