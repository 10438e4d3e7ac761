"""Serving the gateway with uvicorn, with every wait bounded (issue 14).

uvicorn closes a connection that idles *between* requests after `timeout_keep_alive`, but it waits
for ever on a connection that never finishes its request line and headers (a socket opened and left
idle, or headers trickled a byte at a time): 1,100 such sockets under a 1,024 file limit stopped every
webhook. `HeaderDeadline` closes a connection whose request head has not arrived within
`header_timeout_s` of the connection opening or of the request's first byte. A half-sent *body* is
bounded in the app (`create_app(body_timeout_s=…)`, 408), and on SIGTERM uvicorn cancels what is
still running after `graceful_s` instead of waiting for slow clients.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Bounds:
    header_timeout_s: float = 10.0  # request line + headers must arrive within this
    keep_alive_s: float = 5.0  # an idle kept-alive connection is closed after this
    graceful_s: float = 10.0  # on SIGTERM: running requests get this long, then are cancelled
    max_connections: int = 900  # beyond this uvicorn answers 503 (stays under a 1,024 file limit)


def _protocol_base() -> type[Any]:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools is optional: uvicorn's pure-Python h11 protocol
        return H11Protocol
    return HttpToolsProtocol


_Base = _protocol_base()


class HeaderDeadline(_Base):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol, closing connections whose request head is too slow to arrive."""

    header_timeout_s = 10.0  # seconds (subclassed with `Bounds.header_timeout_s` by `config`)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._head_deadline is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()  # the first bytes of a next request on a kept-alive connection
        super().data_received(data)
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm()  # the head is complete: the app now bounds the body itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(self.header_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        handle, self._head_deadline = getattr(self, "_head_deadline", None), None
        if handle is not None:
            handle.cancel()

    def _too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            log.info("closed a connection whose request head did not arrive within %.0f s", self.header_timeout_s)
            self.transport.close()


def config(app: Any, host: str, port: int, bounds: Bounds = Bounds(), **options: Any) -> uvicorn.Config:
    """The uvicorn configuration `deskhand serve` runs with."""
    protocol = type("BoundedHTTP", (HeaderDeadline,), {"header_timeout_s": bounds.header_timeout_s})
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        timeout_keep_alive=max(1, round(bounds.keep_alive_s)),
        timeout_graceful_shutdown=max(1, round(bounds.graceful_s)),
        limit_concurrency=bounds.max_connections,
        **options,
    )


def run(app: Any, host: str, port: int, bounds: Bounds = Bounds(), **options: Any) -> None:
    """Serve `app` in the foreground until SIGINT/SIGTERM."""
    uvicorn.Server(config(app, host, port, bounds, **options)).run()
