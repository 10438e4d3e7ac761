"""The ASGI gateway: signed webhooks in, durable events out; health; the unified API (deskhand.api).

A webhook is answered 2xx only after its events and their jobs are committed. Everything that can
be wrong with a request is answered before anything is written: unknown account → 404, signature
missing / wrong / stale → 401, signed but unreadable payload → 400, store unavailable → 503 (so the
provider retries later).

Inputs are bounded before anything is trusted (issue 14): the account is looked up before the body
is read (unknown account → 404 without reading it); the body is read against the provider's
`webhooks.max_body_bytes` (default 1 MB, 413 as soon as it is passed, before the signature is
checked) and within `body_timeout_s` (408 for a half-sent body); a client that hangs up mid-body is
one log line. Ids longer than the store's columns and JSON nested too deeply are 400.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from deskhand import __version__
from deskhand.api import mount as mount_api
from deskhand.errors import ConfigError, DeskhandError, PayloadError, SignatureError
from deskhand.gateway.dedupe import open_deduper
from deskhand.gateway.ingest import Ingest
from deskhand.gateway.metrics import add_metrics_route
from deskhand.model import Event
from deskhand.providers import webhooks
from deskhand.runtime import Runtime
from deskhand.store import AccountRecord
from deskhand.store.schema import events as events_table

if TYPE_CHECKING:
    from deskhand.providers.connector import Connector
    from deskhand.tools.runner import Options

log = logging.getLogger(__name__)


class AccountCache:
    """Accounts as the gateway last read them, with their connectors, for `ttl_s` seconds: a burst of
    webhooks for one account costs one read and one decryption, not one per delivery, and the event
    loop never waits for the store on a hit. An entry older than `ttl_s` is read again by one request
    (the others meanwhile use the entry they have, or wait for that same read): when a burst found
    the entry stale at once, each request used to read the account itself, and on PostgreSQL the
    pool opened an overflow connection for each. A changed webhook secret is seen within `ttl_s`
    plus one read. At most `max_names` names are kept (requests for made-up accounts cannot grow it
    without bound)."""

    def __init__(
        self, rt: Runtime, ttl_s: float = 2.0, clock: Callable[[], float] = time.monotonic, max_names: int = 10_000
    ) -> None:
        self.rt, self.ttl_s, self.clock, self.max_names = rt, ttl_s, clock, max_names
        self._rows: dict[str, tuple[float, Found]] = {}
        self._reading: dict[str, asyncio.Future[Found]] = {}

    async def get(self, name: str) -> Found:
        """The account `name` (None in `.account` when there is no such account); raises
        SQLAlchemyError when it had to be read and the store could not be."""
        hit = self._rows.get(name)
        if hit and self.clock() - hit[0] < self.ttl_s:
            return hit[1]
        loop = asyncio.get_running_loop()
        reading = self._reading.get(name)
        if reading is None or reading.get_loop() is not loop:
            reading = self._reading[name] = asyncio.ensure_future(run_in_threadpool(self.find, name))
            reading.add_done_callback(lambda done: self._read_done(name, done))
        if hit is not None:
            return hit[1]  # stale, for as long as the one read in flight takes
        return await asyncio.shield(reading)

    def _read_done(self, name: str, done: asyncio.Future[Found]) -> None:
        if self._reading.get(name) is done:
            del self._reading[name]
        if not done.cancelled():
            done.exception()  # retrieved: a failed read is answered (503) by whoever awaited it

    def find(self, name: str) -> Found:
        """Read the account from the store (blocking: call it off the event loop)."""
        now = self.clock()
        account = self.rt.store.find_account(name)
        found = Found(account)
        if account is not None:
            try:
                found = Found(account, self.rt.connector(account))
            except ConfigError as exc:
                found = Found(account, problem=str(exc))
        if len(self._rows) >= self.max_names:
            self._rows.clear()
        self._rows[name] = (now, found)
        return found


class WebhookRoute:
    """ASGI middleware that answers POST /webhooks/{provider}/{account} itself: the hot path skips
    FastAPI's routing, exception and exit-stack layers (a third of the gateway's CPU per webhook,
    measured with py-spy at 500 webhooks/s). Everything else goes on to the app."""

    def __init__(self, app: ASGIApp, handle: Callable[[Request], Awaitable[Response]]) -> None:
        self.app, self.handle = app, handle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            parts = scope["path"].split("/")
            if len(parts) == 4 and parts[0] == "" and parts[1] == "webhooks" and parts[2] and parts[3]:
                scope["path_params"] = {"provider": parts[2], "account": parts[3]}
                response = await self.handle(Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The request body, read no further than `limit` bytes (BodyTooLarge) and for no longer than
    `timeout_s` (TimeoutError); ClientDisconnect when the client hangs up first."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async with asyncio.timeout(timeout_s):
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


# the store's widths: a longer id would fail the insert (on PostgreSQL) and be retried for ever
ID_LIMITS = {
    name: getattr(events_table.c[name].type, "length", None) or 255
    for name in ("ticket_id", "delivery_id", "comment_id", "author_id")
}


def too_long_id(events: list[Event]) -> str | None:
    """The first id of `events` longer than the store keeps, described (None when all fit)."""
    for e in events:
        for name, limit in ID_LIMITS.items():
            value = getattr(e, name)
            if value is not None and len(value) > limit:
                return f"{name} is {len(value)} characters long (at most {limit})"
    return None


@dataclass(frozen=True, slots=True)
class Found:
    account: AccountRecord | None
    connector: Connector | None = None
    problem: str | None = None  # the account's connection values are unusable


def _error(status: int, code: str, message: str, *, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


DEFAULT_MAX_BODY = 1_000_000


def add_oauth_callback(app: FastAPI, rt: Runtime) -> None:
    """The redirect target of `deskhand connect <slug> --oauth PUBLIC_URL` (deskhand.providers.oauth_connect)."""

    def oauth_callback(request: Request) -> JSONResponse:
        from deskhand.providers.oauth_connect import finish

        provider, q = request.path_params["provider"], request.query_params
        if q.get("error"):
            return _error(400, "authorization_refused", f"{provider} answered {q['error']}: "
                          f"{q.get('error_description', 'the authorisation was not granted')}")
        state = q.get("state") or q.get("oauth_token")  # OAuth 1.0a (Trello): the request token and its verifier
        code = q.get("code") or q.get("oauth_verifier")
        if not state or not code:
            return _error(400, "bad_callback", "an OAuth callback needs `code` and `state`")
        try:
            done = finish(rt, provider, state, code)
        except DeskhandError as exc:
            return _error(400, "oauth_failed", str(exc))
        return JSONResponse({"status": "connected", **done})

    app.add_api_route("/oauth/callback/{provider}", oauth_callback, methods=["GET"], include_in_schema=False)


def create_app(
    rt: Runtime,
    *,
    workers: int = 0,
    sync_interval_s: float = 0.0,
    body_timeout_s: float = 30.0,
    mcp: Options | None = None,
) -> FastAPI:
    """The gateway. With `workers` > 0 it also runs that many worker threads in-process; with
    `sync_interval_s` > 0, an incremental sync of every account at that interval (deskhand.sync.loop).
    `body_timeout_s` bounds how long a webhook's body may take to arrive. `mcp`: how the tools at /mcp
    (deskhand.tools, streamable HTTP, the same API keys) may write (default: read-only)."""
    stop = threading.Event()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        threads = []
        if workers:
            from deskhand.responder.worker import start_workers

            threads = start_workers(rt, workers, stop)
            from deskhand.outbound import start_delivery_loop

            threads.append(start_delivery_loop(rt, stop))  # outbound unified webhooks
        if sync_interval_s > 0:
            from deskhand.sync.loop import start_sync_loop

            threads.append(start_sync_loop(rt, sync_interval_s, stop))
        async with mcp_endpoint.running():  # the MCP transport's task group (deskhand.tools.mcp_server)
            yield
        ingest.close()
        stop.set()
        for th in threads:
            th.join(timeout=30)
        live = getattr(_app.state, "live_connectors", None)  # the API's connectors (deskhand.api.live)
        if live is not None:
            live.close()

    # /docs and /openapi.json are served by deskhand.api (behind an API key), not FastAPI's open ones
    app = FastAPI(title="deskhand", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.rt = rt
    add_metrics_route(app, rt)  # GET /metrics (Prometheus)
    app.state.dedupe = dedupe = open_deduper(rt.settings.redis_url)
    app.state.accounts = accounts = AccountCache(rt)
    app.state.ingest = ingest = Ingest(rt, dedupe)

    @app.get("/healthz")
    def health() -> JSONResponse:
        from deskhand.queue.health import report

        try:  # 200 "ok" or "degraded" (with reasons: open breakers, dead jobs, queue lag); 503: no store
            health = report(rt.queue, rt.breakers)
        except SQLAlchemyError as exc:
            return _error(503, "store_unavailable", str(exc.__class__.__name__))
        return JSONResponse({**health, "version": __version__})

    async def webhook(request: Request) -> Response:
        provider, name = request.path_params["provider"], request.path_params["account"]
        try:
            found = await accounts.get(name)
        except SQLAlchemyError as exc:  # refused, reset, closed mid-restart: all mean "retry later"
            log.error("webhook for %s: store unavailable: %s", name, exc.__class__.__name__)
            return _error(503, "store_unavailable", "the store is unavailable; retry later")
        if found.account is None or found.account.provider != provider:  # the body is never read
            return _error(404, "unknown_account", f"no {provider} account named {name!r}")
        spec = found.connector.definition.webhooks if found.connector is not None else None
        limit = spec.max_body_bytes if spec is not None else DEFAULT_MAX_BODY
        try:
            body = await read_body(request, limit, body_timeout_s)
        except BodyTooLarge:
            return _error(413, "body_too_large", f"webhook bodies for {provider} are limited to {limit} bytes")
        except TimeoutError:
            log.warning("webhook for %s: body not received within %.0f s", name, body_timeout_s)
            return _error(408, "body_timeout", f"the body did not arrive within {body_timeout_s:.0f} s")
        except ClientDisconnect:
            log.warning("webhook for %s: the client disconnected before sending the whole body", name)
            return _error(400, "client_disconnected", "the client disconnected mid-body")
        url = str(request.url) if _signs_url(found) else None
        return await _receive(ingest, found, provider, name, request.headers, body, url=url, tolerance=tolerance)

    async def webhook_check(request: Request) -> Response:
        """A registration check of the callback URL (Trello's HEAD before it creates a webhook)."""
        provider, name = request.path_params["provider"], request.path_params["account"]
        try:
            found = await accounts.get(name)
        except SQLAlchemyError as exc:
            log.error("webhook check for %s: store unavailable: %s", name, exc.__class__.__name__)
            return _error(503, "store_unavailable", "the store is unavailable; retry later")
        return _check(found, provider, name, request.method)

    tolerance = float(rt.settings.webhook_tolerance_s)  # DESKHAND_WEBHOOK_TOLERANCE_S; a definition's own wins
    # POST /webhooks/… is answered by WebhookRoute, ahead of FastAPI's routing and middleware; the
    # route stays for what the middleware passes on; GET/HEAD answer registration checks
    app.add_route("/webhooks/{provider}/{account}", webhook, methods=["POST"], include_in_schema=False)
    app.add_route("/webhooks/{provider}/{account}", webhook_check, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_middleware(WebhookRoute, handle=webhook)  # outermost: webhooks skip everything else

    add_oauth_callback(app, rt)  # GET /oauth/callback/<slug>: the state is the credential
    mount_api(app)  # /v1 (API keys, scopes, tenants), /openapi.json, /docs
    from deskhand.tools import mcp_server, runner

    mcp_endpoint = mcp_server.mount(app, mcp or runner.Options())  # /mcp: the API's tools for AI agents, same keys

    from deskhand.console import mount as mount_console

    mount_console(app)  # /console: login, review queue, decisions, kill switches (HTML)

    return app


def _signs_url(found: Found) -> bool:
    hooks = found.connector.definition.webhooks if found.connector is not None else None
    return hooks is not None and any("{callback_url}" in spec.signed for spec in hooks.verify)


def _check(found: Found, provider: str, name: str, method: str) -> Response:
    """200 for a known account whose definition answers `method` on its callback URL; nothing is queued."""
    account = found.account
    if account is None or account.provider != provider:
        return _error(404, "unknown_account", f"no {provider} account named {name!r}")
    hooks = found.connector.definition.webhooks if found.connector is not None else None
    if hooks is None or not webhooks.check_method(hooks, method):
        response = _error(405, "method_not_allowed", f"{provider} webhooks are delivered by POST")
        response.headers["Allow"] = "POST"
        return response
    return Response(status_code=200)


def _echo(challenge: webhooks.Challenge) -> Response:
    """The answer to a registration challenge, in every form the definition declares."""
    headers = {challenge.header: challenge.value} if "header" in challenge.reply and challenge.header else None
    if "json" in challenge.reply:
        return JSONResponse({challenge.field: challenge.value}, headers=headers)
    if "text" in challenge.reply:
        return PlainTextResponse(challenge.value, headers=headers)
    return Response(status_code=200, headers=headers)


async def _receive(
    ingest: Ingest, found: Found, provider: str, name: str, headers: Mapping[str, str], body: bytes, *,
    url: str | None = None, tolerance: float = webhooks.DEFAULT_TOLERANCE_S,
) -> Response:
    """Everything that can be wrong with a request is answered before anything is written; then its
    events are recorded (see deskhand.gateway.ingest) and the answer waits for the commit."""
    account = found.account
    if account is None or account.provider != provider:
        return _error(404, "unknown_account", f"no {provider} account named {name!r}")
    if found.connector is None:
        return _error(401, "not_configured", found.problem or "the account cannot verify webhooks")
    try:
        found.connector.verify_webhook(headers, body, default_tolerance=tolerance, url=url)
    except SignatureError as exc:
        log.warning("webhook rejected account=%s: %s", name, exc)
        return _error(401, "bad_signature", str(exc))
    except ConfigError as exc:
        return _error(401, "not_configured", str(exc))
    hooks = found.connector.definition.webhooks
    if hooks is not None and hooks.handshake.challenge is not None:
        echo = webhooks.challenge(hooks, headers, body)
        if echo is not None:  # a registration handshake: answered, nothing recorded
            log.info("webhook handshake answered account=%s", name)
            return _echo(echo)
    try:
        events = found.connector.parse_webhook(headers, body)
    except PayloadError as exc:
        return _error(400, "bad_payload", str(exc))
    if problem := too_long_id(events):
        return _error(400, "bad_payload", f"{provider} webhook: {problem}; nothing was stored")
    if not events:
        return JSONResponse({"accepted": [], "duplicates": 0, "ignored": True})
    recorded = await ingest.record(account, events)
    if recorded.error == "overloaded":
        return _error(503, "overloaded", "too many webhooks are waiting to be stored; retry later", retry_after=1)
    if recorded.error:
        return _error(503, "store_unavailable", "the event could not be stored; retry later")
    return JSONResponse({"accepted": recorded.accepted, "duplicates": recorded.duplicates, "ignored": False})
