"""A fault switch in front of a simulator's API: while it is down, every API request is answered
with an error page (503 by default, optionally with Retry-After), as a helpdesk in an outage
answers; the simulator's state and its webhooks keep working (mail still arrives, tickets are
still created and announced). Used by the outage tests; flip it with `down()` / `up()`."""

from __future__ import annotations

from typing import Any


class FaultSwitch:
    def __init__(self, app: Any, *, prefix: str = "/") -> None:
        self.app, self.prefix = app, prefix
        self.status: int | None = None
        self.retry_after: int | None = None
        self.refused = 0  # requests answered with the error while down

    def down(self, status: int = 503, *, retry_after: int | None = None) -> None:
        self.status, self.retry_after = status, retry_after

    def up(self) -> None:
        self.status = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        status = self.status
        if status is None or scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        self.refused += 1
        body = b"<html><body><h1>503 Service Unavailable</h1>Maintenance in progress.</body></html>"
        headers = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode())]
        if self.retry_after is not None:
            headers.append((b"retry-after", str(self.retry_after).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
