"""Operations tables: a circuit breaker per helpdesk account, shared by every worker process."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, String, Table, Text

from deskhand.store.schema import metadata

breakers = Table(
    "breakers",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("state", String(16), nullable=False),  # closed | open | half_open
    Column("failures", Integer, nullable=False),  # consecutive helpdesk failures (5xx, timeouts, refused)
    Column("trips", Integer, nullable=False),  # times opened since it was last closed (cooldown grows)
    Column("opened_at", Float),  # unix seconds, the queue's clock
    Column("probe_at", Float),  # open: when a probe may run; half_open: when the probe's turn lapses
    Column("last_error", Text),
    Column("updated_at", Float, nullable=False),
)
