"""Each OAuth account's token set in the store: sealed at rest, one refresh at a time.

A refresh is a compare-and-set on the row: `UPDATE … SET lease_owner=me WHERE version=<read> AND
no live lease AND status='ok'`. Whoever updates the row refreshes; the others wait for the version
to move and read the winner's tokens, so a rotated (dead) refresh token is never sent twice. The new
access and refresh tokens are stored in one UPDATE that also bumps the version and drops the lease.
Times are an injected clock (unix seconds).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select, update

from deskhand.store.db import insert_or_skip
from deskhand.store.schema import jobs
from deskhand.store.secrets import SecretBox
from deskhand.store.tables_oauth import oauth_tokens

log = logging.getLogger(__name__)
OK, NEEDS_REAUTH = "ok", "needs_reauth"


def reauth_marker(account: str) -> str:
    """How the reason of a job deferred while its account needs re-authorisation starts."""
    return f"needs_reauth {account}: "


@dataclass(frozen=True, slots=True)
class TokenRow:
    account: str
    provider: str
    token: dict[str, Any]  # access_token, refresh_token, expires_in … : never log
    expires_at: float | None
    version: int
    status: str
    reason: str | None
    lease_owner: str | None
    lease_until: float | None


class TokenStore:
    def __init__(self, engine: Engine, box: SecretBox, *, clock: Callable[[], float]) -> None:
        self.engine, self.box, self.clock = engine, box, clock

    def get(self, account: str) -> TokenRow | None:
        with self.engine.connect() as c:
            row = c.execute(select(oauth_tokens).where(oauth_tokens.c.account == account)).first()
        if row is None:
            return None
        return TokenRow(account=row.account, provider=row.provider, token=self.box.unseal(row.tokens_sealed),
                        expires_at=row.expires_at, version=int(row.version), status=row.status, reason=row.reason,
                        lease_owner=row.lease_owner, lease_until=row.lease_until)

    def status(self, account: str) -> tuple[str, str | None] | None:
        """(status, reason) without unsealing anything; None: not an OAuth account."""
        o = oauth_tokens.c
        with self.engine.connect() as c:
            row = c.execute(select(o.status, o.reason).where(o.account == account)).first()
        return None if row is None else (str(row.status), row.reason)

    def statuses(self) -> dict[str, tuple[str, str | None]]:
        o = oauth_tokens.c
        with self.engine.connect() as c:
            return {r.account: (r.status, r.reason) for r in c.execute(select(o.account, o.status, o.reason))}

    def expiry(self, token: dict[str, Any]) -> float | None:
        """When the access token expires: `expires_in` from now, else the server's own `expires_at`."""
        expires_in = token.get("expires_in")
        if expires_in not in (None, ""):
            return self.clock() + float(expires_in)
        expires_at = token.get("expires_at")
        return None if expires_at in (None, "") else float(expires_at)

    def connect(self, account: str, provider: str, token: dict[str, Any]) -> int:
        """Store a token set from a (re)connection: the account is OK again and the jobs deferred
        while it needed re-authorisation are due now (oldest first, by id). Returns how many."""
        now = self.clock()
        values = {"provider": provider, "tokens_sealed": self.box.seal(token), "expires_at": self.expiry(token),
                  "lease_owner": None, "lease_until": None, "status": OK, "reason": None, "refreshed_at": now,
                  "updated_at": now}
        o = oauth_tokens.c
        with self.engine.begin() as c:
            c.execute(insert_or_skip(c, oauth_tokens, "account"), {"account": account, "version": 0, **values})
            c.execute(update(oauth_tokens).where(o.account == account).values(version=o.version + 1, **values))
            marker = "deferred: " + reauth_marker(account)
            released = c.execute(update(jobs).where(
                jobs.c.status == "queued", jobs.c.run_at > now,
                func.substr(jobs.c.last_error, 1, len(marker)) == marker,
            ).values(run_at=now, updated_at=now)).rowcount
        if released:
            log.info("oauth account=%s reconnected: %d jobs that waited for it are due now", account, released)
        return int(released)

    def acquire(self, account: str, version: int, owner: str, lease_s: float) -> bool:
        """Take the right to refresh the token set of `version`; False: someone else has it (or
        already refreshed, or the account needs re-authorisation)."""
        now = self.clock()
        o = oauth_tokens.c
        with self.engine.begin() as c:
            res = c.execute(update(oauth_tokens).where(
                o.account == account, o.version == version, o.status == OK,
                or_(o.lease_until.is_(None), o.lease_until < now),
            ).values(lease_owner=owner, lease_until=now + lease_s, updated_at=now))
        return res.rowcount == 1

    def refreshed(self, account: str, owner: str, token: dict[str, Any]) -> bool:
        """Store the refreshed token set (new access + rotated refresh token together) and drop the
        lease; False when the lease was lost meanwhile (the tokens are then not stored)."""
        now = self.clock()
        o = oauth_tokens.c
        with self.engine.begin() as c:
            res = c.execute(update(oauth_tokens).where(o.account == account, o.lease_owner == owner).values(
                tokens_sealed=self.box.seal(token), expires_at=self.expiry(token), version=o.version + 1,
                lease_owner=None, lease_until=None, refreshed_at=now, updated_at=now))
        return res.rowcount == 1

    def release(self, account: str, owner: str) -> None:
        o = oauth_tokens.c
        with self.engine.begin() as c:
            c.execute(update(oauth_tokens).where(o.account == account, o.lease_owner == owner)
                      .values(lease_owner=None, lease_until=None, updated_at=self.clock()))

    def needs_reauth(self, account: str, reason: str) -> bool:
        """Mark the account as needing re-authorisation (its grant was revoked or expired). True when
        this call changed it (the caller alerts once)."""
        o = oauth_tokens.c
        with self.engine.begin() as c:
            res = c.execute(update(oauth_tokens).where(and_(o.account == account, o.status == OK)).values(
                status=NEEDS_REAUTH, reason=reason[:2000], lease_owner=None, lease_until=None,
                updated_at=self.clock()))
        return res.rowcount == 1
