"""Trello's auth and rate limits, the gate in front of every ``/1`` call (FACTS.md §7.1, §7.3).

Auth: the API key and a member's token, either in the header
``Authorization: OAuth oauth_consumer_key="KEY", oauth_token="TOKEN"`` (an OAuth 1.0a signed header
carries the same two parameters and is accepted too; its signature is not checked) or as the query
``?key=KEY&token=TOKEN``. An unknown key is 401 ``invalid key``; a missing token 401
``unauthorized permission requested``; an unknown one 401 ``invalid token`` (plain text).

Limits: 300 requests per 10 s per API key and 100 per 10 s per token. Every answer carries
``x-rate-limit-api-key-*`` and ``x-rate-limit-api-token-*`` (interval-ms, max, remaining); over a
budget the answer is 429 with Trello's JSON body ``{"error": "API_TOKEN_LIMIT_EXCEEDED" |
"API_KEY_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}`` and no ``Retry-After``. Once a key has
had more than 200 refusals in a window, all its requests are refused until that window ends.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

Clock = Callable[[], float]
KEY_MAX, TOKEN_MAX, WINDOW_S, KEY_REFUSALS_MAX = 300, 100, 10.0, 200
_OAUTH_PARAM = re.compile(r'(oauth_[a-z_]+)="([^"]*)"')


def parse_oauth(header: str | None) -> tuple[str | None, str | None]:
    """``(key, token)`` from an ``Authorization: OAuth …`` header (either may be missing)."""
    if not header or not header.strip().lower().startswith("oauth "):
        return None, None
    params = dict(_OAUTH_PARAM.findall(header))
    return params.get("oauth_consumer_key") or None, params.get("oauth_token") or None


@dataclass
class _Window:
    start: float
    used: int = 0
    refused: int = 0


@dataclass
class Limits:
    """Fixed windows per API key and per token (thread-safe, injectable clock)."""

    key_max: int = KEY_MAX
    token_max: int = TOKEN_MAX
    window_s: float = WINDOW_S
    clock: Clock = time.monotonic
    _windows: dict[str, _Window] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _window(self, name: str, now: float) -> _Window:
        window = self._windows.get(name)
        if window is None or now - window.start >= self.window_s:
            window = self._windows[name] = _Window(now)
        return window

    def spend(self, key: str, token: str) -> tuple[str | None, int, int]:
        """One request: ``(refusal error or None, key remaining, token remaining)``."""
        now = self.clock()
        with self._lock:
            by_key, by_token = self._window("key:" + key, now), self._window("token:" + token, now)
            error = None
            if by_key.refused > KEY_REFUSALS_MAX or by_key.used >= self.key_max:
                error = "API_KEY_LIMIT_EXCEEDED"
            elif by_token.used >= self.token_max:
                error = "API_TOKEN_LIMIT_EXCEEDED"
            if error:
                by_key.refused += 1
            else:
                by_key.used += 1
                by_token.used += 1
            return error, max(0, self.key_max - by_key.used), max(0, self.token_max - by_token.used)

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


class Gate:
    """Auth and limits around ``/1`` (a ``BaseHTTPMiddleware`` dispatch function). Sets
    ``request.state.member_id``, ``.api_key`` and ``.token``."""

    def __init__(self, api_keys: Callable[[], dict[str, str]], tokens: Callable[[], dict[str, str]], limits: Limits):
        self.api_keys, self.tokens, self.limits = api_keys, tokens, limits

    async def __call__(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if not request.url.path.startswith("/1/") or request.url.path.startswith("/1/OAuth"):
            return await call_next(request)  # the OAuth 1.0a endpoints authenticate by their signatures
        key, token = parse_oauth(request.headers.get("authorization"))
        key = key or request.query_params.get("key")
        token = token or request.query_params.get("token")
        if request.method == "POST" and (key is None or token is None) and request.headers.get(
                "content-type", "").startswith("application/x-www-form-urlencoded"):
            form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))  # py-trello's create_hook
            key = key or _str(form.get("key"))  # posts the key in a form and the token in the path
            token = token or _str(form.get("token")) or _path_token(request.url.path)
        if not key or key not in self.api_keys():
            return PlainTextResponse("invalid key", status_code=401)
        if not token:
            return PlainTextResponse("unauthorized permission requested", status_code=401)
        member_id = self.tokens().get(token)
        if member_id is None:
            return PlainTextResponse("invalid token", status_code=401)
        request.state.member_id, request.state.api_key, request.state.token = member_id, key, token
        error, key_left, token_left = self.limits.spend(key, token)
        interval = str(int(self.limits.window_s * 1000))
        headers = {"x-rate-limit-api-key-interval-ms": interval, "x-rate-limit-api-key-max": str(self.limits.key_max),
                   "x-rate-limit-api-key-remaining": str(key_left),
                   "x-rate-limit-api-token-interval-ms": interval,
                   "x-rate-limit-api-token-max": str(self.limits.token_max),
                   "x-rate-limit-api-token-remaining": str(token_left)}
        if error:
            return JSONResponse({"error": error, "message": "Rate limit exceeded"}, status_code=429, headers=headers)
        response = await call_next(request)
        response.headers.update(headers)
        return response


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _path_token(path: str) -> str | None:
    parts = path.strip("/").split("/")
    return parts[2] if len(parts) >= 3 and parts[1] == "tokens" else None
