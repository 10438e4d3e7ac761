"""Login throttling for the console: after `limit` failed logins within `window_s` for one username
(or from one client address), further attempts are refused (429 with Retry-After) until the oldest
failure leaves the window — password guessing gets 5 tries per 15 minutes, not thousands.

Per gateway process and in memory (bounded): a restart forgets it; several gateway processes each
count their own. The clock is injected so tests do not wait.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

LIMIT = 5
WINDOW_S = 900.0
MAX_KEYS = 10_000


class LoginThrottle:
    def __init__(self, *, limit: int = LIMIT, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        seen = self._failures.get(key)
        if seen is None:
            return deque()
        while seen and seen[0] <= now - self.window_s:
            seen.popleft()
        return seen

    def wait_s(self, keys: Iterable[str]) -> float:
        """Seconds until any of `keys` may try again (0: now)."""
        now = self.clock()
        with self._lock:
            waits = [seen[0] + self.window_s - now for k in keys
                     if len(seen := self._recent(k, now)) >= self.limit]
        return max(waits, default=0.0)

    def failed(self, keys: Iterable[str]) -> None:
        now = self.clock()
        with self._lock:
            for k in keys:
                seen = self._recent(k, now)
                seen.append(now)
                self._failures[k] = seen
                self._failures.move_to_end(k)
            while len(self._failures) > MAX_KEYS:
                self._failures.popitem(last=False)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{username.lower()}", None)


def keys_for(username: str, client: str | None) -> list[str]:
    return [f"user:{username.lower()}", *([f"addr:{client}"] if client else [])]
