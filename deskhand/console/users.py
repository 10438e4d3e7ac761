"""Local users of the web console: `deskhand users create|list|remove`, and the password check at login.

Passwords are hashed with scrypt (RFC 7914; hashlib, OpenSSL) with a random 16-byte salt and
N=2**15, r=8, p=1 (32 MiB, OWASP's minimum for scrypt), stored as `scrypt$N$r$p$salt$hash`, so the
cost can be raised later without breaking stored hashes. Usernames are unique across tenants.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from deskhand.errors import ConfigError, NotFoundError
from deskhand.store.store import now
from deskhand.store.tables_console import console_users

ROLES = ("viewer", "reviewer", "admin")  # each may do what the ones before it may
N, R, P = 2**15, 8, 1
MIN_PASSWORD = 10
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")


@dataclass(frozen=True, slots=True)
class User:
    username: str
    tenant_id: str
    role: str

    def may(self, role: str) -> bool:
        """True when this user's role is `role` or above it."""
        return ROLES.index(self.role) >= ROLES.index(role)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=128 * r * n * 2, dklen=32)


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = _scrypt(password, salt, N, R, P)
    b64 = base64.b64encode
    return f"scrypt${N}${R}${P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


_DUMMY = hash_password("deskhand-no-such-user")  # a missing user costs as much as a wrong password


def create_user(engine: Engine, username: str, tenant_id: str, role: str, password: str) -> User:
    if not _NAME.match(username):
        raise ConfigError(f"invalid username {username!r}: letters, digits and . _ @ - (up to 100)")
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"the password needs at least {MIN_PASSWORD} characters")
    try:
        with engine.begin() as c:
            c.execute(console_users.insert().values(username=username, tenant_id=tenant_id, role=role,
                                                    password_hash=hash_password(password), created_at=now()))
    except IntegrityError as exc:
        raise ConfigError(f"user {username!r} exists: remove it first (`deskhand users remove {username}`)") from exc
    return User(username, tenant_id, role)


def list_users(engine: Engine, tenant_id: str | None = None) -> list[dict[str, Any]]:
    q = select(console_users.c.username, console_users.c.tenant_id, console_users.c.role,
               console_users.c.created_at).order_by(console_users.c.tenant_id, console_users.c.username)
    if tenant_id is not None:
        q = q.where(console_users.c.tenant_id == tenant_id)
    with engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(q).all()]


def remove_user(engine: Engine, username: str) -> None:
    """Delete the user; their open sessions stop working on the next request."""
    with engine.begin() as c:
        gone = c.execute(delete(console_users).where(console_users.c.username == username)).rowcount
    if not gone:
        raise NotFoundError(f"no console user {username!r}: see `deskhand users list`")


def get_user(engine: Engine, username: str) -> User | None:
    with engine.connect() as c:
        row = c.execute(select(console_users).where(console_users.c.username == username)).first()
    return User(row.username, row.tenant_id, row.role) if row else None


def authenticate(engine: Engine, username: str, password: str) -> User | None:
    with engine.connect() as c:
        row = c.execute(select(console_users).where(console_users.c.username == username)).first()
    if row is None:
        verify_password(password, _DUMMY)
        return None
    return User(row.username, row.tenant_id, row.role) if verify_password(password, row.password_hash) else None
