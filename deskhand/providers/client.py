"""HTTP for provider calls: one httpx client, errors from ProviderError.from_response, retries.

- every non-2xx becomes a ProviderError (``ProviderError.from_response``, the only map);
- 429 with a Retry-After up to ``max_retry_after`` seconds: wait that long, then send again
  (a longer wait is raised as RateLimited so the queue can come back later: workers never park);
- 5xx and broken connections: a few retries with exponential backoff, but only for requests
  that are safe to repeat (GET/HEAD, or a connection that never got the request out);
- a limiter may plug in: ``before_request()`` before each send, ``observe(headers)`` after.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, Protocol

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from deskhand.errors import ProviderError, RateLimited

log = logging.getLogger(__name__)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


_REQUEST: ContextVar[tuple[str, str]] = ContextVar("deskhand_provider_request", default=("GET", ""))


def current_request() -> tuple[str, str]:
    """(method, url) of the request being sent: a limiter reads it in before_request()/observe()."""
    return _REQUEST.get()


class Limiter(Protocol):
    """What a rate-limit budget offers the client: may block or raise in before_request()."""

    def before_request(self) -> None: ...

    def observe(self, headers: Mapping[str, str]) -> None: ...


class ConnectionFailed(ProviderError):
    """The helpdesk could not be reached. `sent` tells whether the request may have arrived."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


class ProviderHTTP:
    def __init__(
        self,
        base_url: str,
        auth: httpx.Auth | None,
        *,
        http: httpx.Client | None = None,
        limiter: Limiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = 4,
        max_retry_after: float = 60.0,
        backoff: float = 0.5,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self._own = http is None
        self._http = http or httpx.Client(timeout=timeout, follow_redirects=False)
        self.limiter = limiter
        self._sleep = sleep
        self._attempts = attempts
        self._max_retry_after = max_retry_after
        self._backoff = backoff

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send with retries; a 2xx response, or the ProviderError of the last attempt."""
        method = method.upper()
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda exc: self._should_retry(method, exc)),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                return self._send(method, self.url(path), params, json, headers)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        token = _REQUEST.set((method, url))
        try:
            return self._send_now(method, url, params, json, headers)
        finally:
            _REQUEST.reset(token)

    def _send_now(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        if self.limiter is not None:
            self.limiter.before_request()
        try:
            response = self._http.request(
                method, url, params=params, json=json, headers=headers, auth=self.auth or httpx.USE_CLIENT_DEFAULT
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ConnectionFailed(f"{method} {url}: cannot connect: {exc}", sent=False) from exc
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"{method} {url}: {type(exc).__name__}: {exc}", sent=True) from exc
        if self.limiter is not None:
            self.limiter.observe(response.headers)
        if not response.is_success:
            raise ProviderError.from_response(response)
        return response

    def _should_retry(self, method: str, exc: BaseException) -> bool:
        if isinstance(exc, RateLimited):  # status None: a budget's "later", raised before sending
            return exc.status == 429 and (exc.retry_after is None or exc.retry_after <= self._max_retry_after)
        if isinstance(exc, ConnectionFailed):
            return not exc.sent or method in _SAFE_METHODS
        if isinstance(exc, ProviderError):
            return exc.status is not None and exc.status >= 500 and method in _SAFE_METHODS
        return False

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return exc.retry_after
        return min(self._backoff * 2 ** (state.attempt_number - 1), 30.0)

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.info(
            "provider.retry",
            extra={
                "attempt": state.attempt_number,
                "error": type(exc).__name__,
                "status": getattr(exc, "status", None),
            },
        )

    def close(self) -> None:
        if self._own:
            self._http.close()
