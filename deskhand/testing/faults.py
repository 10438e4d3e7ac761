"""A fault-injecting ASGI wrapper: put it in front of a simulator to make it misbehave on demand.

``FaultGate(app)`` passes every request through until :meth:`FaultGate.arm` is called; then the
requests it matches are answered with the canned response instead (a proxy's maintenance JSON, a
GraphQL ``errors`` body, an HTML page, …), the others still reach the simulator. ``disarm()``
brings the helpdesk back. ``hits`` counts the answers it faked.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Match = Callable[[str, str], bool]  # (method, path) -> answer this one with the fault?
QueryMatch = Callable[[str], bool]  # the query string -> answer this one with the fault?


def every_get_but(*paths: str) -> Match:
    """GETs, except those whose path ends with one of `paths` (e.g. the current user, to connect)."""
    return lambda method, path: method == "GET" and not path.endswith(paths)


@dataclass
class Fault:
    status: int = 200
    body: Any = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    match: Match = lambda method, path: True
    query: QueryMatch = lambda query: True  # narrows `match` (e.g. the one call without query parameters)

    def response(self) -> Response:
        content = self.body if isinstance(self.body, str | bytes) else json.dumps(self.body)
        return Response(content, status_code=self.status, media_type=self.content_type, headers=self.headers)


class FaultGate:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.hits = 0
        self._fault: Fault | None = None
        self._lock = threading.Lock()

    def arm(self, fault: Fault) -> None:
        with self._lock:
            self._fault, self.hits = fault, 0

    def disarm(self) -> None:
        with self._lock:
            self._fault = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fault = self._fault
        if scope["type"] == "http" and fault is not None and fault.match(scope["method"], scope["path"]) \
                and fault.query(scope.get("query_string", b"").decode("latin-1")):
            with self._lock:
                self.hits += 1
            await fault.response()(scope, receive, send)
            return
        await self.app(scope, receive, send)
