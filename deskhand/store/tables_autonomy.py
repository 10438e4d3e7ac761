"""Autonomy tables: modes (per account and category) with their audit trail, the outcome ledger,
kill switches, and the signals (write errors, LLM spend) that trip them."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, Float, Index, Integer, String, Table, Text

from deskhand.store.schema import metadata

ANY = "*"  # the category of an account-wide mode row

autonomy_modes = Table(
    "autonomy_modes",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("category", String(64), primary_key=True),  # "*" = the account's default
    Column("mode", String(16), nullable=False),  # off | shadow | draft | canary | auto
    Column("canary_share", Float, nullable=False),  # share of eligible tickets answered in canary
    Column("updated_by", String(100), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

autonomy_audit = Table(
    "autonomy_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False),
    Column("category", String(64), nullable=False),
    Column("from_mode", String(16)),
    Column("to_mode", String(16), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("reason", Text),
    Column("at", DateTime(timezone=True), nullable=False),
)
Index("ix_autonomy_audit_account", autonomy_audit.c.account, autonomy_audit.c.id)

outcomes = Table(
    "outcomes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("decision_id", Integer, nullable=False, unique=True),
    Column("account", String(64), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("ticket_id", String(64), nullable=False),
    Column("category", String(64), nullable=False),
    Column("route", String(16), nullable=False),  # auto_reply | draft | human (as performed)
    Column("mode", String(16), nullable=False),  # the mode in force when it was decided
    Column("question", Text, nullable=False),
    Column("body", Text),  # the reply sent or the draft proposed
    Column("best_score", Float, nullable=False),  # retrieval similarity of the best source
    Column("cost_usd", Float, nullable=False),
    Column("last_status", String(16)),  # ticket status last seen (reopen detection)
    Column("outcome", String(16), nullable=False),  # pending | resolved | failed | reopened | …
    Column("signal", String(200)),  # what settled it
    Column("edit_distance", Float),  # drafts: normalised distance between draft and what was sent
    Column("csat", String(16)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("settled_at", DateTime(timezone=True)),
)
Index("ix_outcomes_ticket", outcomes.c.account, outcomes.c.ticket_id)
Index("ix_outcomes_settled", outcomes.c.account, outcomes.c.category, outcomes.c.settled_at)

kill_switches = Table(
    "kill_switches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope", String(16), nullable=False),  # global | account | provider | category
    Column("account", String(64)),
    Column("provider", String(32)),
    Column("category", String(64)),
    Column("cap", String(16), nullable=False),  # the highest mode allowed while tripped
    Column("reason", Text, nullable=False),
    Column("automatic", Boolean, nullable=False),
    Column("details", JSON, nullable=False),
    Column("tripped_by", String(100), nullable=False),
    Column("tripped_at", DateTime(timezone=True), nullable=False),
    Column("reset_by", String(100)),
    Column("reset_at", DateTime(timezone=True)),
    Column("reset_reason", Text),  # why a person reset it
)

autonomy_signals = Table(
    "autonomy_signals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("kind", String(16), nullable=False),  # write_error | llm_cost
    Column("value", Float, nullable=False),
    Column("detail", Text),
    Column("at", DateTime(timezone=True), nullable=False),
)
Index("ix_autonomy_signals", autonomy_signals.c.account, autonomy_signals.c.kind, autonomy_signals.c.at)
