"""Each OAuth account's token set in the store: sealed at rest, one refresh at a time.

A refresh is a compare-and-set on the row: `UPDATE … SET lease_owner=me WHERE version=<read> AND
no live lease AND status='ok'`. Whoever updates the row refreshes; the others wait for the version
to move and read the winner's tokens, so a rotated (dead) refresh token is never sent twice. The new
access and refresh tokens are stored in one UPDATE that also bumps the version and drops the lease.
Times are an injected clock (unix seconds).

With a Redis refresh lock (deskhand.providers.oauth_lock, when DESKHAND_REDIS_URL is set) the lock is
Redis's instead of the row's lease: `acquire` takes it and then checks the row still has the version
read (else someone refreshed meanwhile: the lock is given back); `refreshed` writes by compare-and-set
on that version and gives the lock back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, and_, func, or_, select, update

from deskhand.store.db import insert_or_skip
from deskhand.store.schema import jobs
from deskhand.store.secrets import SecretBox
from deskhand.store.tables_oauth import oauth_tokens

if TYPE_CHECKING:
    from deskhand.providers.oauth_lock import RedisRefreshLock

log = logging.getLogger(__name__)
OK, NEEDS_REAUTH = "ok", "needs_reauth"


def reauth_marker(account: str) -> str:
    """How the reason of a job deferred while its account needs re-authorisation starts."""
    return f"needs_reauth {account}: "


def refresh_lock(redis_url: str | None) -> RedisRefreshLock | None:
    """The Redis refresh lock when the deployment has Redis (DESKHAND_REDIS_URL), else None (the row's lease)."""
    if not redis_url:
        return None
    from deskhand.providers.oauth_lock import RedisRefreshLock

    return RedisRefreshLock.from_url(redis_url)


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
    def __init__(self, engine: Engine, box: SecretBox, *, clock: Callable[[], float],
                 lock: RedisRefreshLock | None = None) -> None:
        self.engine, self.box, self.clock, self.lock = engine, box, clock, lock
        self._versions: dict[tuple[str, str], int] = {}  # (account, owner) -> version it refreshes (Redis lock)

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
        if self.lock is not None:
            return self._acquire_redis(account, version, owner, lease_s)
        now = self.clock()
        o = oauth_tokens.c
        with self.engine.begin() as c:
            res = c.execute(update(oauth_tokens).where(
                o.account == account, o.version == version, o.status == OK,
                or_(o.lease_until.is_(None), o.lease_until < now),
            ).values(lease_owner=owner, lease_until=now + lease_s, updated_at=now))
        return res.rowcount == 1

    def _acquire_redis(self, account: str, version: int, owner: str, lease_s: float) -> bool:
        assert self.lock is not None
        if not self.lock.acquire(account, owner, lease_s):
            return False
        o = oauth_tokens.c
        with self.engine.connect() as c:
            row = c.execute(select(o.version, o.status).where(o.account == account)).first()
        if row is None or int(row.version) != version or row.status != OK:  # refreshed (or dead) meanwhile
            self.lock.release(account, owner)
            return False
        self._versions[(account, owner)] = version
        return True

    def refreshed(self, account: str, owner: str, token: dict[str, Any]) -> bool:
        """Store the refreshed token set (new access + rotated refresh token together) and drop the
        lease; False when the lease was lost meanwhile (the tokens are then not stored). With the Redis
        lock: stored while the row still has the version refreshed (a compare-and-set), lock given back."""
        now = self.clock()
        o = oauth_tokens.c
        if self.lock is not None:
            version = self._versions.pop((account, owner), None)
            try:
                if version is None:
                    return False
                with self.engine.begin() as c:
                    res = c.execute(update(oauth_tokens).where(
                        o.account == account, o.version == version, o.status == OK).values(
                        tokens_sealed=self.box.seal(token), expires_at=self.expiry(token), version=o.version + 1,
                        refreshed_at=now, updated_at=now))
                return res.rowcount == 1
            finally:
                self.lock.release(account, owner)
        with self.engine.begin() as c:
            res = c.execute(update(oauth_tokens).where(o.account == account, o.lease_owner == owner).values(
                tokens_sealed=self.box.seal(token), expires_at=self.expiry(token), version=o.version + 1,
                lease_owner=None, lease_until=None, refreshed_at=now, updated_at=now))
        return res.rowcount == 1

    def release(self, account: str, owner: str) -> None:
        if self.lock is not None:
            self._versions.pop((account, owner), None)
            self.lock.release(account, owner)
            return
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
