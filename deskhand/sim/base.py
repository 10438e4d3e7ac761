"""Shared pieces of every provider simulator: a server, a limiter, webhook delivery, small helpers.

Everything here is provider-neutral. A simulator module (``deskhand.sim.zendesk``, ``.jira``, ...)
builds a Starlette/FastAPI app from its state and uses:

- :class:`SimServer` to run that app with uvicorn in a background thread (tests, demo) and
  :func:`run_forever` to run it in the foreground (CLI ``deskhand sim <slug>``);
- :class:`HoldAt` to hold the n-th API request of a client until released (a test stops a client
  in another process at an exact point of its progress and kills it there);
- :class:`FixedWindowLimiter` for per-minute request budgets (injectable clock);
- :class:`WebhookDelivery` to POST signed webhook payloads asynchronously with retries;
- :func:`base_url`, :func:`absolute_url`, :func:`parse_basic_auth`, :func:`parse_bearer` and
  :func:`iso_utc` for the bits every API repeats.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import heapq
import itertools
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from urllib.parse import urlencode

import httpx
import uvicorn

from deskhand.errors import ConfigError

log = logging.getLogger(__name__)

Clock = Callable[[], float]

__all__ = [
    "Attempt",
    "FixedWindowLimiter",
    "Invocation",
    "LimitResult",
    "ManualClock",
    "RetryPolicy",
    "SimServer",
    "WebhookDelivery",
    "absolute_url",
    "base_url",
    "iso_utc",
    "parse_basic_auth",
    "parse_bearer",
    "retry_delay",
    "run_forever",
]


# --------------------------------------------------------------------------------------- server


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # proto set: asyncio then sets TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {_url(host, port)}: {exc.strerror or exc} "
                          "(is another simulator or service using it?): choose another --port") from exc
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


START_TIMEOUT_S = 120.0  # generous: start-up on a loaded machine takes seconds, never minutes


class SimServer:
    """Run an ASGI app with uvicorn on a background thread.

    ``port=0`` picks a free port; the socket is bound before the thread starts, so ``.port`` and
    ``.url`` are known at once and :meth:`start` returns only once uvicorn accepts connections.
    Use as a context manager or call :meth:`start` / :meth:`stop`. Extra attributes (such as a
    simulator's ``state``) may be set on the instance by the simulator's ``start()``.
    """

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_level: str = "warning",
        lifespan: Literal["auto", "on", "off"] = "off",
    ):
        self.app = app
        self._lifespan = lifespan
        self.host = host
        self._requested_port = port
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.port: int = port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        return _url(self.host, self.port)

    def start(self, timeout: float = START_TIMEOUT_S) -> SimServer:
        """Serve on a background thread; return once uvicorn accepts connections (its start-up, the
        app's lifespan included, has finished). A thread that dies on the way fails at once, with its
        error; one merely slow (a loaded machine) is waited for up to `timeout` seconds."""
        if self._thread is not None:
            return self
        self._sock = _bind(self.host, self._requested_port)
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level=self._log_level, lifespan=self._lifespan, access_log=False)
        self._server = uvicorn.Server(config)
        sockets = [self._sock]
        failure: list[BaseException] = []

        def run() -> None:
            try:
                assert self._server is not None
                self._server.run(sockets=sockets)
            except BaseException as exc:  # reported by start() (below) and logged, not raised into the void
                failure.append(exc)
                log.error("server on %s stopped: %r", self.url, exc)

        self._thread = threading.Thread(target=run, name=f"sim-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        server = self._server
        while not server.started:
            if not self._thread.is_alive():
                self.stop()
                cause = f": {failure[0]!r}" if failure else " (its start-up failed; see the log above)"
                raise RuntimeError(f"server on {self.url} stopped before it was ready{cause}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server on {self.url} was not ready after {timeout:g}s: the machine may be "
                                   f"overloaded (see `uptime`); pass a longer timeout to start()")
            self._thread.join(0.01)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
        self._server, self._thread, self._sock = None, None, None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_forever(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    on_ready: Callable[[str], None] | None = None,
    log_level: str = "info",
) -> None:
    """Serve ``app`` in the foreground until Ctrl-C (uvicorn handles SIGINT/SIGTERM cleanly).

    The socket is bound first, so ``on_ready(url)`` can print the real URL even when ``port=0``.
    """
    sock = _bind(host, port)
    url = _url(host, sock.getsockname()[1])
    if on_ready is not None:
        on_ready(url)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="off"))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # pragma: no cover - uvicorn normally swallows it
        pass
    finally:
        sock.close()


class HoldAt:
    """ASGI wrapper around a simulator's app: the `at`-th request whose path starts with `prefix` is
    held (its answer waits) until :attr:`release` is set; :attr:`reached` is set when it arrives.
    ``at=0`` holds nothing and only counts (:attr:`seen`: how many such requests came). A client in
    another process is thus stopped at an exact point of its progress, where a test kills it — no
    sleeping for a moment that may or may not have come."""

    def __init__(self, app: Any, at: int, prefix: str, *, max_hold_s: float = 120.0) -> None:
        self.app, self.at, self.prefix, self.max_hold_s, self.seen = app, at, prefix, max_hold_s, 0
        self.reached, self.release = threading.Event(), threading.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            self.seen += 1  # one event loop: no lock needed
            if self.seen == self.at:
                self.reached.set()
                await asyncio.get_running_loop().run_in_executor(None, self.release.wait, self.max_hold_s)
        await self.app(scope, receive, send)


# --------------------------------------------------------------------------------------- limits


@dataclass(frozen=True)
class LimitResult:
    """Outcome of one :meth:`FixedWindowLimiter.hit`: ``reset_s`` is whole seconds (≥1) to reset."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int


class FixedWindowLimiter:
    """Thread-safe fixed-window counter per key (``limit`` hits per ``window_s`` seconds).

    A key's window starts at its first hit and lasts ``window_s``; blocked hits are not counted.
    """

    def __init__(self, limit: int, window_s: float = 60.0, clock: Clock = time.monotonic):
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str = "") -> LimitResult:
        now = self._clock()
        with self._lock:
            start, used = self._windows.get(key, (now, 0))
            if now - start >= self.window_s:
                start, used = now, 0
            allowed = used < self.limit
            if allowed:
                used += 1
            self._windows[key] = (start, used)
        reset_s = max(1, math.ceil(start + self.window_s - now))
        return LimitResult(allowed, self.limit, self.limit - used, reset_s)

    def reset(self) -> None:
        """Forget every window (tests, or a simulator's admin endpoint)."""
        with self._lock:
            self._windows.clear()


class ManualClock:
    """A clock for tests: call it for the time, :meth:`advance` to move it."""

    def __init__(self, start: float = 1_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# ------------------------------------------------------------------------------------- webhooks


@dataclass
class Attempt:
    """One HTTP try of an invocation: ``status`` is None when the request failed (see ``error``)."""

    at: float
    status: int | None
    error: str | None = None


@dataclass
class Invocation:
    """One webhook delivery (the same bytes and headers on every attempt)."""

    id: int
    url: str
    body: bytes
    headers: dict[str, str]
    attempts: list[Attempt] = field(default_factory=list)
    state: str = "pending"  # pending | delivered | failed

    @property
    def statuses(self) -> list[int | None]:
        return [a.status for a in self.attempts]


def retry_delay(
    status: int | None, headers: Mapping[str, str], attempt: int, *, backoff_s: float, max_backoff_s: float
) -> float | None:
    """Seconds to wait before retrying after ``attempt`` (1-based) got ``status``; None = don't retry.

    Retried: connection errors/timeouts (``status`` None), 5xx, 409, and 429/503 when
    ``Retry-After`` is at most 60 s (then honoured). 429 without Retry-After and 503 with a longer
    one are not retried; other 4xx are final.
    """
    if status is not None and status < 300:
        return None
    if status in (429, 503):
        raw = headers.get("retry-after")
        if raw is not None:
            try:
                wait = float(raw)
            except ValueError:
                return None
            return max(0.0, wait) if wait <= 60 else None
        if status == 429:
            return None
    if status is None or status == 409 or status >= 500:
        return min(max_backoff_s, backoff_s * 2 ** (attempt - 1))
    return None


class RetryPolicy(Protocol):
    """Seconds before retrying after ``attempt`` (1-based) got ``status`` (None: no response); None = final."""

    def __call__(
        self, status: int | None, headers: Mapping[str, str], attempt: int, *, backoff_s: float, max_backoff_s: float
    ) -> float | None: ...


class WebhookDelivery:
    """Deliver webhook POSTs from a background thread; retry failures with backoff.

    :meth:`send` never blocks on the network. Each invocation is re-sent byte-identical with the
    same headers (receivers dedupe on them) plus whatever ``attempt_headers(invocation)`` adds for
    that attempt (e.g. a retry counter). ``retry_policy`` decides which answers are retried and
    when (default :func:`retry_delay`). Retries are scheduled, so one failing receiver does not
    hold back other deliveries. ``invocations`` records every attempt for inspection.
    """

    def __init__(
        self,
        *,
        max_attempts: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        timeout_s: float = 10.0,
        clock: Clock = time.monotonic,
        transport: httpx.BaseTransport | None = None,
        retry_policy: RetryPolicy | None = None,
        attempt_headers: Callable[[Invocation], Mapping[str, str]] | None = None,
    ):
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.retry_policy: RetryPolicy = retry_policy or retry_delay
        self.attempt_headers = attempt_headers
        self._clock = clock
        self._client = httpx.Client(timeout=timeout_s, transport=transport, follow_redirects=False)
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Invocation]] = []
        self._in_flight = 0
        self._closed = False
        self._ids = itertools.count(1)
        self._order = itertools.count()
        self.invocations: list[Invocation] = []
        self._thread = threading.Thread(target=self._run, name="webhook-delivery", daemon=True)
        self._thread.start()

    def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> Invocation:
        """Queue one delivery; returns its (live) :class:`Invocation` record."""
        inv = Invocation(next(self._ids), url, bytes(body), dict(headers))
        with self._cond:
            if self._closed:
                raise RuntimeError("WebhookDelivery is closed")
            self.invocations.append(inv)
            heapq.heappush(self._heap, (self._clock(), next(self._order), inv))
            self._cond.notify_all()
        return inv

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued, scheduled for retry or in flight. False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker (pending retries are dropped) and close the HTTP client."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)
        self._client.close()

    def _next_due(self) -> Invocation | None:
        with self._cond:
            while not self._closed:
                if self._heap:
                    wait = self._heap[0][0] - self._clock()
                    if wait <= 0:
                        inv = heapq.heappop(self._heap)[2]
                        self._in_flight += 1
                        return inv
                    self._cond.wait(min(wait, 0.05))
                else:
                    self._cond.wait(0.5)
            return None

    def _run(self) -> None:
        while (inv := self._next_due()) is not None:
            try:
                self._attempt(inv)
            except Exception:  # never let the worker die
                log.exception("webhook.delivery_crashed", extra={"invocation": inv.id})
                inv.state = "failed"
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def _attempt(self, inv: Invocation) -> None:
        status: int | None = None
        resp_headers: Mapping[str, str] = {}
        headers = inv.headers
        if self.attempt_headers is not None:
            headers = {**inv.headers, **self.attempt_headers(inv)}
        try:
            resp = self._client.post(inv.url, content=inv.body, headers=headers)
            status, resp_headers = resp.status_code, resp.headers
            inv.attempts.append(Attempt(self._clock(), status))
        except httpx.HTTPError as exc:
            inv.attempts.append(Attempt(self._clock(), None, f"{type(exc).__name__}: {exc}"))
        n = len(inv.attempts)
        if status is not None and 200 <= status < 300:
            inv.state = "delivered"
            return
        delay = self.retry_policy(status, resp_headers, n, backoff_s=self.backoff_s, max_backoff_s=self.max_backoff_s)
        log.info("webhook.attempt_failed invocation=%s attempt=%s status=%s", inv.id, n, status)
        if delay is None or n >= self.max_attempts:
            inv.state = "failed"
            return
        with self._cond:
            heapq.heappush(self._heap, (self._clock() + delay, next(self._order), inv))


# -------------------------------------------------------------------------------------- helpers


def base_url(request: Any) -> str:
    """``scheme://host[:port]`` the client used to reach us (from a Starlette ``Request``)."""
    return f"{request.url.scheme}://{request.url.netloc}"


def absolute_url(request: Any, path: str, params: Mapping[str, Any] | None = None) -> str:
    """Absolute URL on this simulator for ``path`` (leading ``/``) with query ``params``.

    Keys like ``page[size]`` are kept readable (brackets not percent-encoded); None values dropped.
    """
    url = base_url(request) + path
    if params:
        query = urlencode({k: v for k, v in params.items() if v is not None}, safe="[]:")
        if query:
            url += "?" + query
    return url


def parse_basic_auth(header: str | None) -> tuple[str, str] | None:
    """``Authorization: Basic ...`` → ``(username, password)``; None if absent or malformed."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def parse_bearer(header: str | None) -> str | None:
    """``Authorization: Bearer T`` → ``T``; None otherwise."""
    if not header or header[:7].lower() != "bearer ":
        return None
    return header[7:].strip() or None


def iso_utc(ts: float) -> str:
    """Unix seconds → ``2024-04-17T17:18:10Z`` (whole seconds, UTC)."""
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
