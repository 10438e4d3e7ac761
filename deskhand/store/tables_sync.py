"""Tables of the sync area: shared rate-limit budgets, sync checkpoints, and the replica.

- ``budgets``: one row per account × provider × bucket, updated with single atomic statements by
  every process that shares the store (deskhand.limits);
- ``sync_state``: per account, the stored checkpoint of the change feed and a lease so that only
  one sync runs per account at a time (deskhand.sync);
- ``replica_*``: tickets (with tombstones for deleted / gone records), comments, users, teams.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, Index, Integer, String, Table, Text

from deskhand.store.schema import metadata

budgets = Table(
    "budgets",
    metadata,
    Column("key", String(200), primary_key=True),  # account|provider|bucket
    Column("limit_n", Integer, nullable=False),  # requests per window (from the provider's headers)
    Column("remaining", Integer, nullable=False),  # our reservation count: never above the provider's
    Column("window_s", Float, nullable=False),
    Column("reset_at", Float, nullable=False),  # unix seconds: the window's end (an upper bound)
    Column("rolled_at", Float, nullable=False),  # when we last assumed a fresh window
    Column("next_at", Float, nullable=False),  # proactive pacing: earliest next non-write request
    Column("blocked_until", Float, nullable=False),  # a 429 / exhausted quota: nobody sends before
    Column("blocked_reason", String(200)),
    Column("updated_at", Float, nullable=False),
)

sync_state = Table(
    "sync_state",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("checkpoint", JSON),  # the change feed's resume point (None: never synced)
    Column("backfilled", Boolean, nullable=False),  # a full pass reached the end of the feed once
    Column("lease_owner", String(100)),
    Column("lease_until", Float),
    Column("last_run_at", Float),
    Column("last_stats", JSON),
    Column("updated_at", Float, nullable=False),
)

replica_tickets = Table(
    "replica_tickets",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("subject", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("raw_status", String(64), nullable=False),
    Column("priority", String(16)),
    Column("requester_id", String(64)),
    Column("assignee_id", String(64)),
    Column("team_id", String(64)),
    Column("tags", JSON, nullable=False),
    Column("created_at", String(40)),  # ISO-8601 UTC
    Column("updated_at", String(40)),  # ISO-8601 UTC: with id, the dedupe key of a change
    Column("deleted", Boolean, nullable=False),  # a tombstone: deleted (or gone) at the provider
    Column("content_hash", String(64), nullable=False),  # of the ticket and its comments
    Column("synced_at", Float, nullable=False),
)
Index("ix_replica_tickets_updated", replica_tickets.c.account, replica_tickets.c.updated_at)

replica_comments = Table(
    "replica_comments",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("ticket_id", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("body", Text, nullable=False),
    Column("visibility", String(16), nullable=False),
    Column("author_id", String(64)),
    Column("created_at", String(40)),
)

replica_users = Table(
    "replica_users",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("name", String(300)),
    Column("email", String(300)),
    Column("role", String(16), nullable=False),
)

replica_teams = Table(
    "replica_teams",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("name", String(300), nullable=False),
)
