"""API keys: created per tenant with scopes, shown once, stored hashed, revoked by id.

A key reads `dh_<id>_<secret>`: `id` (12 hex characters) is public and names the row; `secret` is 32
random bytes (256 bits, URL-safe base64). Only SHA-256 of the whole key is stored. Why a fast hash and
not bcrypt/argon2: those slow hashes exist to make guessing *low-entropy* passwords expensive; a key
with 256 random bits cannot be guessed at any hash speed, and a slow hash would add tens of
milliseconds to every API call. The comparison is constant-time (hmac.compare_digest).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from deskhand.errors import ConfigError, NotFoundError
from deskhand.store.tables_api import api_keys

SCOPES = ("tickets:read", "tickets:write", "decisions:read", "review:write", "admin")
PREFIX = "dh_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a key's id, its tenant and its scopes. `admin` holds every scope of its tenant."""

    key_id: str
    tenant_id: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def check_scopes(scopes: list[str]) -> list[str]:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ConfigError(
            f"unknown scope(s) {', '.join(unknown) or '(none given)'}: use --scope with any of {', '.join(SCOPES)}"
        )
    return sorted(set(scopes))


def create_key(engine: Engine, tenant_id: str, scopes: list[str], name: str = "") -> tuple[str, str]:
    """A new key for `tenant_id`: (key id, the whole key). The whole key is not stored: show it once."""
    chosen = check_scopes(scopes)
    key_id = secrets.token_hex(6)
    key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    with engine.begin() as c:
        c.execute(
            insert(api_keys).values(
                id=key_id,
                tenant_id=tenant_id,
                name=name or key_id,
                scopes=chosen,
                secret_hash=_hash(key),
                created_at=datetime.now(UTC),
            )
        )
    return key_id, key


def list_keys(engine: Engine, tenant_id: str | None = None) -> list[dict[str, Any]]:
    """Every key (no secrets, no hashes), oldest first."""
    q = select(
        api_keys.c.id, api_keys.c.tenant_id, api_keys.c.name, api_keys.c.scopes,
        api_keys.c.created_at, api_keys.c.revoked_at,
    ).order_by(api_keys.c.created_at, api_keys.c.id)
    if tenant_id is not None:
        q = q.where(api_keys.c.tenant_id == tenant_id)
    with engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(q).all()]


def revoke_key(engine: Engine, key_id: str) -> None:
    with engine.begin() as c:
        res = c.execute(
            update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
    if res.rowcount != 1:
        raise NotFoundError(f"no active API key {key_id!r}: see `deskhand keys list`")


def authenticate(engine: Engine, key: str) -> Principal | None:
    """The principal of a presented key; None when it is malformed, unknown, wrong or revoked."""
    if not key.startswith(PREFIX) or len(key) > 200:
        return None
    key_id, sep, _secret = key[len(PREFIX):].partition("_")
    if not sep or not key_id:
        return None
    with engine.connect() as c:
        row = c.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_hash, _hash(key)):
        return None
    return Principal(key_id=row.id, tenant_id=row.tenant_id, scopes=frozenset(row.scopes))
