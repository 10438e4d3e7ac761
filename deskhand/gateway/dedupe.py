"""Fast duplicate suppression in Redis, in front of the store (DESKHAND_REDIS_URL).

The store's unique (account, delivery_id) constraint stays the source of truth; Redis only lets the
gateway answer a redelivery without a database transaction. Each delivery key moves:

    absent --SET NX "pending" (short TTL)--> pending --commit in the store--> "done" (long TTL)

Only "done" suppresses, and "done" is written after the store committed, so a gateway that crashes
or answers 503 between the two never makes a retried delivery look like a duplicate: "pending" (or
a lost key) just sends the delivery to the store, which decides. When Redis is unreachable the
gateway goes on with the store alone, logs one warning per outage and tries Redis again later.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

PENDING = b"pending"
DONE = b"done"


class Deduper:
    def __init__(
        self,
        client: Any,
        *,
        ttl_s: int = 7 * 24 * 3600,
        pending_s: int = 60,
        retry_after_s: float = 5.0,
        prefix: str = "deskhand:delivery:",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.pending_s = pending_s
        self.retry_after_s = retry_after_s
        self.prefix = prefix
        self.clock = clock
        self._down_until = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Deduper:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
        return cls(client, **kwargs)

    def key(self, account: str, delivery_id: str) -> str:
        return f"{self.prefix}{account}:{delivery_id}"

    @property
    def available(self) -> bool:
        return self.clock() >= self._down_until

    def claim(self, account: str, delivery_ids: Sequence[str]) -> set[str]:
        """The deliveries already committed (answer them as duplicates); marks the rest pending."""
        if not delivery_ids or not self.available:
            return set()
        try:
            pipe = self.client.pipeline(transaction=False)
            for d in delivery_ids:
                pipe.set(self.key(account, d), PENDING, nx=True, ex=self.pending_s, get=True)
            old = pipe.execute()
        except Exception as exc:  # redis.RedisError and socket errors: the store alone decides
            self._down(exc)
            return set()
        self._up()
        return {d for d, value in zip(delivery_ids, old, strict=True) if value == DONE}

    def remember(self, account: str, delivery_ids: Sequence[str]) -> None:
        """Mark deliveries the store has committed (inserted now or found there before)."""
        if not delivery_ids or not self.available:
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            for d in delivery_ids:
                pipe.set(self.key(account, d), DONE, ex=self.ttl_s)
            pipe.execute()
        except Exception as exc:
            self._down(exc)

    def _down(self, exc: Exception) -> None:
        with self._lock:
            first = self._down_until == 0.0
            self._down_until = self.clock() + self.retry_after_s
        if first:
            log.warning(
                "redis unavailable (%s): duplicate suppression falls back to the store alone; retrying every %.0f s",
                exc.__class__.__name__,
                self.retry_after_s,
            )

    def _up(self) -> None:
        if self._down_until:
            with self._lock:
                self._down_until = 0.0
            log.warning("redis reachable again: duplicate suppression in front of the store resumed")


def open_deduper(url: str | None) -> Deduper | None:
    """A deduper for DESKHAND_REDIS_URL, or None without Redis."""
    return Deduper.from_url(url) if url else None
