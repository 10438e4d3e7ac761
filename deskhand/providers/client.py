"""HTTP for provider calls: one httpx client, errors from ProviderError.from_response, retries.

- every non-2xx becomes a ProviderError (``ProviderError.from_response``, the only map), and so
  does a 2xx whose body carries an error by the definition's ``errors:`` rules;
- 429 (or a body error meaning rate_limited, e.g. Linear's 400 + RATELIMITED) with a Retry-After
  up to ``max_retry_after`` seconds: wait that long, then send again (a longer wait is raised as
  RateLimited so the queue can come back later: workers never park);
- 5xx and broken connections: a few retries with exponential backoff, but only for requests
  that are safe to repeat (GET/HEAD, or a connection that never got the request out);
- a limiter may plug in: ``before_request()`` before each send, ``observe(headers)`` after; what
  ``observe`` answers (the wait and reason its budgets now impose) fills a throttled answer's
  ``retry_after`` / ``reason`` when the provider gave none (Linear's 400 RATELIMITED: the reset header).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, Protocol

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from deskhand.errors import BodyReader, ProviderError, RateLimited, response_error

log = logging.getLogger(__name__)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


_REQUEST: ContextVar[tuple[str, str]] = ContextVar("deskhand_provider_request", default=("GET", ""))
_CALL: ContextVar[tuple[str | None, str | None]] = ContextVar("deskhand_provider_call", default=(None, None))
_READ: ContextVar[bool] = ContextVar("deskhand_provider_read", default=False)


_DRY_RUN: ContextVar[list[dict[str, Any]] | None] = ContextVar("deskhand_dry_run", default=None)


class WouldSend(Exception):  # not an error: the dry run stopped where a write would be sent
    """Raised in a dry run (`dry_run()`) instead of sending a request that could change something;
    `call` is exactly what would have been sent (method, url, params, json, headers given by the call
    spec; the account's credentials are added by the client and never shown)."""

    def __init__(self, call: dict[str, Any]) -> None:
        super().__init__(f"dry run: would send {call['method']} {call['url']}")
        self.call = call


class dry_run:  # used as a context manager, like contextlib's
    """Within it (this context and what it starts: threads of anyio/starlette copy it), provider reads
    are sent as usual and the first request that could change something raises WouldSend instead of
    being sent; `calls` holds each such request."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __enter__(self) -> dry_run:
        self._token = _DRY_RUN.set(self.calls)
        return self

    def __exit__(self, *exc: object) -> None:
        _DRY_RUN.reset(self._token)


def current_request() -> tuple[str, str]:
    """(method, url) of the request being sent: a limiter reads it in before_request()/observe()."""
    return _REQUEST.get()


def current_is_read() -> bool:
    """The request being sent only reads: a safe method, or a POST marked idempotent (a GraphQL query),
    so the limiter gives it a read lane rather than the write lane its method suggests."""
    return _READ.get()


def current_call() -> tuple[str | None, str | None]:
    """(endpoint, record) of the request being sent, as its call declared them: the endpoint is
    ``"METHOD /declared/{path}"``, the record the value of the definition's ``limits.records.arg``."""
    return _CALL.get()


class Throttle(Protocol):
    """What a limiter says after a response: how long its budgets now hold requests back, and why."""

    wait_s: float | None
    reason: str | None


class Limiter(Protocol):
    """What a rate-limit budget offers the client: may block or raise in before_request()."""

    def before_request(self) -> None: ...

    def observe(self, headers: Mapping[str, str]) -> Throttle | None: ...


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
        errors: BodyReader | None = None,
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
        self.read_errors = errors  # the definition's `errors:` rules, applied to every response body

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
        endpoint: str | None = None,
        record: str | None = None,
        idempotent: bool = False,
    ) -> httpx.Response:
        """Send with retries; a 2xx response, or the ProviderError of the last attempt. `endpoint`
        (``"METHOD /declared/path"``) and `record` tell the limiter which budgets the call falls under;
        `idempotent` marks a request safe to repeat whatever its method (a GraphQL query)."""
        method = method.upper()
        capture = _DRY_RUN.get()
        if capture is not None and not (idempotent or method in _SAFE_METHODS):
            call = {"method": method, "url": self.url(path), "params": dict(params) if params else None,
                    "json": json, "headers": dict(headers) if headers else None}
            capture.append(call)
            raise WouldSend(call)
        token, read = _CALL.set((endpoint, record)), _READ.set(idempotent or method in _SAFE_METHODS)
        try:
            return self._request(method, path, params, json, headers, idempotent or method in _SAFE_METHODS)
        finally:
            _READ.reset(read)
            _CALL.reset(token)

    def _request(
        self, method: str, path: str, params: Mapping[str, Any] | None, json: Any, headers: Mapping[str, str] | None,
        safe: bool,
    ) -> httpx.Response:
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda exc: self._should_retry(safe, exc)),
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
        throttle = self.limiter.observe(response.headers) if self.limiter is not None else None
        error = response_error(response, self.read_errors)
        if error is not None:
            if isinstance(error, RateLimited) and error.retry_after is None:
                # nothing said how long: the limiter holds what the body's reason names (one window),
                # else keeps what the headers hold, else holds the account one window
                unexplained = getattr(self.limiter, "throttled", None)
                if unexplained is not None:
                    throttle = unexplained(error.code, held=throttle)
            if isinstance(error, RateLimited) and throttle is not None:
                if error.retry_after is None:
                    error.retry_after = throttle.wait_s
                error.reason = error.reason or throttle.reason
            raise error
        return response

    def _should_retry(self, safe: bool, exc: BaseException) -> bool:
        if isinstance(exc, RateLimited):  # status None: a budget's "later", raised before sending
            return exc.status is not None and (exc.retry_after is None or exc.retry_after <= self._max_retry_after)
        if isinstance(exc, ConnectionFailed):
            return not exc.sent or safe
        if isinstance(exc, ProviderError):
            return exc.status is not None and exc.status >= 500 and safe
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
