"""Tables of the unified API: API keys, idempotent writes, outbound webhook endpoints and their outbox.

- ``api_keys``: one row per key; only a hash of the secret is kept (see deskhand.api.keys);
- ``idempotency_keys``: a write's `Idempotency-Key` with its request fingerprint and stored answer,
  so a retried write is performed once;
- ``webhook_endpoints`` / ``webhook_outbox``: a tenant's subscriptions and the durable queue of
  signed deliveries to them (deskhand.api.outbound).
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Float, Index, Integer, LargeBinary, String, Table, Text

from deskhand.store.schema import metadata

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),  # the public part of the key (dh_<id>_<secret>)
    Column("tenant_id", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("secret_hash", String(64), nullable=False),  # hex SHA-256 of the whole key
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)
Index("ix_api_keys_tenant", api_keys.c.tenant_id)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),  # method, path and body of the first request
    Column("status_code", Integer),  # None while the first request is being performed
    Column("response", JSON),
    Column("created_at", Float, nullable=False),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("url", String(2000), nullable=False),
    Column("events", JSON, nullable=False),  # event types subscribed to
    Column("secret_sealed", LargeBinary, nullable=False),  # the whsec_ signing secret, encrypted
    Column("status", String(16), nullable=False),  # active | disabled
    Column("failing_since", Float),  # first failure of the current unbroken run of failures
    Column("disabled_reason", Text),
    Column("created_at", Float, nullable=False),
)
Index("ix_webhook_endpoints_tenant", webhook_endpoints.c.tenant_id)

webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("id", String(40), primary_key=True),  # the webhook-id: the same on every retry
    Column("endpoint_id", String(40), nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False),
    Column("next_at", Float, nullable=False),  # unix seconds
    Column("lease_until", Float),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float),
)
Index("ix_webhook_outbox_due", webhook_outbox.c.status, webhook_outbox.c.next_at)

reviews = Table(
    "reviews",
    metadata,
    Column("decision_id", Integer, primary_key=True),  # one human verdict per draft
    Column("tenant_id", String(64), nullable=False),
    Column("account", String(64), nullable=False),
    Column("verdict", String(16), nullable=False),  # approved | rejected
    Column("body", Text),  # what was posted (approved): the draft, or the reviewer's edit of it
    Column("edit_distance", Float),  # normalised, draft → posted
    Column("reason", Text),  # why it was rejected
    Column("reviewer", String(100), nullable=False),  # "key:<id>" or "cli:<user>"
    Column("result", JSON),  # the provider's answer to the reply
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_reviews_tenant", reviews.c.tenant_id, reviews.c.decision_id)
