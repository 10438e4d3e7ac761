"""OAuth tables: each account's sealed token set (with the compare-and-set fields that make one
refresh at a time per account across processes) and the pending authorisations of `connect --oauth`."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, LargeBinary, String, Table, Text

from deskhand.store.schema import metadata

oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("provider", String(32), nullable=False),
    Column("tokens_sealed", LargeBinary, nullable=False),  # Fernet(JSON token set): never plain text
    Column("expires_at", Float),  # the access token's expiry, unix seconds (None: never expires)
    Column("version", Integer, nullable=False),  # +1 at every stored token set: compare-and-set
    Column("lease_owner", String(128)),  # the process refreshing now (None: nobody)
    Column("lease_until", Float),  # its refresh lease lapses then (a crashed refresher)
    Column("status", String(16), nullable=False),  # ok | needs_reauth
    Column("reason", Text),  # why it needs re-authorisation
    Column("refreshed_at", Float),
    Column("updated_at", Float, nullable=False),
)

oauth_pending = Table(
    "oauth_pending",
    metadata,
    Column("state_hash", String(64), primary_key=True),  # sha256 of the `state` sent to the provider
    Column("provider", String(32), nullable=False),
    Column("account", String(64), nullable=False),
    Column("sealed", LargeBinary, nullable=False),  # Fernet(JSON: config, tenant, code_verifier, …)
    Column("expires_at", Float, nullable=False),
)
