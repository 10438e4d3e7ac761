"""The OAuth refresh lock in Redis (DESKHAND_REDIS_URL): one refresh at a time per account across every
process and machine that share the Redis.

Each refresh takes redis-py's :class:`redis.lock.Lock` named ``deskhand:oauth-refresh:<account>``
without blocking (SET NX PX with a random token; the lease is its timeout), and gives it back through
the lock's token-checked release script: a holder whose lease lapsed never frees someone else's lock.
The token set itself is still written to the store by a compare-and-set on its version, so a refresh
that outlived its lease cannot overwrite a newer one. When Redis cannot be reached a refresh fails
closed (retried later) rather than risk spending a refresh token twice; access tokens still valid go on
being used.
"""

from __future__ import annotations

import logging
import threading

import redis
from redis.backoff import NoBackoff
from redis.exceptions import LockError
from redis.lock import Lock
from redis.retry import Retry

from deskhand.errors import ProviderError

log = logging.getLogger(__name__)
PREFIX = "deskhand:oauth-refresh:"
LOST = (redis.ConnectionError, redis.TimeoutError)


class RedisRefreshLock:
    def __init__(self, client: redis.Redis, *, prefix: str = PREFIX) -> None:
        self.client, self.prefix = client, prefix
        self._held: dict[tuple[str, str], Lock] = {}  # (account, owner) -> the lock it holds
        self._guard = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> RedisRefreshLock:
        client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0,
                                      retry=Retry(NoBackoff(), 0))
        return cls(client)

    def name(self, account: str) -> str:
        return self.prefix + account

    def acquire(self, account: str, owner: str, lease_s: float) -> bool:
        """Take the account's refresh lock for `lease_s` seconds; False: another process holds it."""
        lock = self.client.lock(self.name(account), timeout=lease_s, blocking=False, thread_local=False)
        try:
            taken = bool(lock.acquire(blocking=False))
        except LOST as exc:
            log.warning("oauth account=%s: Redis unreachable for the refresh lock (%s); refresh deferred",
                        account, exc.__class__.__name__)
            raise ProviderError(f"account {account!r}: the OAuth refresh lock (Redis) is unreachable; "
                                "retrying later") from exc
        if taken:
            with self._guard:
                self._held[(account, owner)] = lock
        return taken

    def held(self, account: str, owner: str) -> bool:
        """Whether `owner` still holds the lock (its lease has not lapsed)."""
        with self._guard:
            lock = self._held.get((account, owner))
        try:
            return lock is not None and bool(lock.owned())
        except LOST:
            return False

    def release(self, account: str, owner: str) -> None:
        with self._guard:
            lock = self._held.pop((account, owner), None)
        if lock is None:
            return
        try:
            lock.release()  # a Lua script: deletes the key only while it still holds this lock's token
        except LockError:
            log.warning("oauth account=%s: the refresh lock's lease lapsed before it was released", account)
        except LOST:
            log.warning("oauth account=%s: Redis unreachable releasing the refresh lock; it expires by "
                        "itself", account)

    def close(self) -> None:
        self.client.close()
