"""Faithful local simulator of Front's Core API (the parts a ticket auto-responder uses).

In-process (tests, demo)::

    with start(webhook_url=url, webhook_secret="s") as sim:   # a FrontSim with .state and .delivery
        httpx.get(f"{sim.url}/conversations", headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"})

CLI: ``deskhand sim front --port N`` (deskhand.sim.front_spec). Auth is ``Bearer <API token>`` (default
``deskhand-sim-token``). Lists take ``limit`` (≤ 100; ``/events`` ≤ 15) and ``page_token``; the answer's
``_pagination.next`` is a full URL (null on the last page). Sends are asynchronous (202 + ``message_uid``).
Limits: :mod:`deskhand.sim.front_limits`; webhooks: :mod:`deskhand.sim.front_webhooks`; shapes:
:mod:`deskhand.sim.front_records` (Front's OpenAPI description, frontapp/front-api-specs ``core-api.json``).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import anyio
from starlette.applications import Starlette
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from deskhand.sim import front_oauth
from deskhand.sim.base import SimServer, WebhookDelivery, base_url
from deskhand.sim.front_limits import PLANS, Gate
from deskhand.sim.front_records import FrontError, Render, bad_request, not_found
from deskhand.sim.front_state import FrontState
from deskhand.sim.front_webhooks import Subscriber, validate
from deskhand.sim.oauth_server import AuthServer

DEFAULT_TOKEN = "deskhand-sim-token"
SUBSCRIBE_WAIT_S = 60.0  # how long the webhook's validation is retried while its receiver is unreachable
LIST_STATUSES = {"assigned", "unassigned", "archived", "trashed"}


def _limit(request: Request, ceiling: int) -> int:
    raw = request.query_params.get("limit", str(min(ceiling, 50) if ceiling > 15 else ceiling))
    if not raw.isdigit() or not 1 <= int(raw) <= ceiling:
        raise bad_request(f"limit must be an integer between 1 and {ceiling}")
    return int(raw)


def page(request: Request, rows: list[Any], ceiling: int = 100) -> tuple[list[Any], dict[str, Any]]:
    """One page of ``rows`` and the list's ``_pagination``/``_links`` (``next`` a full URL or null)."""
    limit = _limit(request, ceiling)
    token = request.query_params.get("page_token")
    offset = 0
    if token:
        try:
            offset = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("o:"))
        except ValueError:
            raise bad_request("page_token is not valid") from None
    chunk = rows[offset:offset + limit]
    following = None
    if offset + limit < len(rows):
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "page_token"]
        params.append(("page_token", base64.urlsafe_b64encode(f"o:{offset + limit}".encode()).decode()))
        following = f"{base_url(request)}{request.url.path}?{urlencode(params, safe='[]')}"
    return chunk, {"_pagination": {"next": following}, "_links": {"self": str(request.url)}}


async def body_of(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise bad_request("The body is not valid JSON") from None
    if not isinstance(body, dict):
        raise bad_request("The body must be a JSON object")
    return body


def _routes(state: FrontState) -> list[Route]:
    def render(request: Request) -> Render:
        return Render(state, base_url(request))

    def listing(request: Request, rows: list[dict[str, Any]], ceiling: int = 100) -> Response:
        chunk, meta = page(request, rows, ceiling)
        return JSONResponse({**meta, "_results": chunk})

    def cid(request: Request) -> str:
        return str(request.path_params["conversation_id"])

    async def conversations(request: Request) -> Response:
        q = request.query_params
        statuses = q.getlist("q[statuses][]")
        if set(statuses) - LIST_STATUSES:
            raise bad_request(f"q[statuses] must be among {', '.join(sorted(LIST_STATUSES))}")
        categories, status_ids = q.getlist("q[status_categories][]"), q.getlist("q[status_ids][]")
        sort_by, order = q.get("sort_by", "date"), q.get("sort_order", "desc")
        if sort_by not in ("date", "created_at") or order not in ("asc", "desc"):
            raise bad_request("sort_by must be date or created_at and sort_order asc or desc")
        with state.lock:
            convs = list(state.conversations.values())
            if statuses:
                convs = [c for c in convs if (c["_status"] in ("deleted", "spam") and "trashed" in statuses)
                         or state.response_status(c) in statuses]
            else:
                convs = [c for c in convs if c["_status"] not in ("deleted", "spam")]
            if categories:
                convs = [c for c in convs
                         if c["status_id"] and state.statuses[c["status_id"]]["category"] in categories]
            if status_ids:
                convs = [c for c in convs if c["status_id"] in status_ids]
            key = "_updated" if sort_by == "date" else "created_at"
            convs.sort(key=lambda c: (c[key], c["id"]), reverse=order == "desc")
            shown = render(request)
            chunk, meta = page(request, convs)
            return JSONResponse({**meta, "_results": [shown.conversation(c["id"]) for c in chunk]})

    async def conversation(request: Request) -> Response:
        with state.lock:
            state.conversation(cid(request))
            return JSONResponse(render(request).conversation(cid(request)))

    async def patch(request: Request) -> Response:
        state.update(cid(request), await body_of(request))
        return Response(status_code=204)

    async def assignee(request: Request) -> Response:
        body = await body_of(request)
        if "assignee_id" not in body:
            raise bad_request("assignee_id is required")
        state.assign(cid(request), body["assignee_id"])
        return Response(status_code=204)

    async def tags(request: Request) -> Response:
        body = await body_of(request)
        state.change_tags(cid(request), body.get("tag_ids"), add=request.method == "POST")
        return Response(status_code=204)

    async def messages(request: Request) -> Response:
        with state.lock:
            state.conversation(cid(request))
            shown = render(request)
            rows = sorted(state.messages[cid(request)], key=lambda m: (m["created_at"], m["id"]), reverse=True)
            chunk, meta = page(request, rows)
            return JSONResponse({**meta, "_results": [shown.message(cid(request), m) for m in chunk]})

    async def reply(request: Request) -> Response:
        body = await body_of(request)
        if not isinstance(body.get("body"), str) or not body["body"].strip():
            raise bad_request("body is required")
        author = body.get("author_id") or request.state.teammate_id
        if author not in state.teammates:
            raise not_found(f"Unknown teammate {author}")
        uid = state.accept_message(cid(request), body, inbound=False, author_id=author)
        return JSONResponse({"status": "accepted", "message_uid": uid}, status_code=202)

    async def comments(request: Request) -> Response:
        with state.lock:
            state.conversation(cid(request))
            shown = render(request)
            rows = sorted(state.comments[cid(request)], key=lambda c: (c["posted_at"], c["id"]))
            chunk, meta = page(request, rows)
            return JSONResponse({**meta, "_results": [shown.comment(cid(request), c) for c in chunk]})

    async def comment(request: Request) -> Response:
        com = state.comment(cid(request), await body_of(request), request.state.teammate_id)
        with state.lock:
            return JSONResponse(render(request).comment(cid(request), com), status_code=201)

    async def incoming(request: Request) -> Response:
        channel = str(request.path_params["channel_id"])
        if channel not in state.channels:
            raise not_found(f"Unknown channel {channel}")
        body = await body_of(request)
        sender = body.get("sender")
        if not isinstance(sender, dict) or not sender.get("handle") or not isinstance(body.get("body"), str):
            raise bad_request("sender.handle and body are required")
        uid = state.accept_message(None, body, inbound=True, author_id=None, channel_id=channel)
        return JSONResponse({"status": "accepted", "message_uid": uid}, status_code=202)

    async def message_by_uid(request: Request) -> Response:
        wanted = str(request.path_params["message_id"])
        with state.lock:
            for conv_id, rows in state.messages.items():
                for m in rows:
                    if wanted in (m["id"], f"alt:uid:{m['message_uid']}"):
                        return JSONResponse(render(request).message(conv_id, m))
        raise not_found(f"Unknown message {wanted}")

    async def events(request: Request) -> Response:
        q = request.query_params
        after, before = q.get("q[after]"), q.get("q[before]")
        types = set(q.getlist("q[types][]"))
        try:
            low = float(after) if after else None
            high = float(before) if before else None
        except ValueError:
            raise bad_request("q[after] and q[before] are UNIX timestamps") from None
        with state.lock:
            rows = [e for e in state.events if (low is None or e["emitted_at"] > low)
                    and (high is None or e["emitted_at"] < high) and (not types or e["type"] in types)]
            rows.sort(key=lambda e: (e["emitted_at"], int(e["id"][4:], 16)),
                      reverse=q.get("sort_order", "desc") == "desc")
            shown = render(request)
            chunk, meta = page(request, rows, 15)
            return JSONResponse({**meta, "_results": [shown.event(e) for e in chunk]})

    def directory(records: Callable[[], dict[str, Any]], one: Callable[[Render, str], dict[str, Any]],
                  param: str | None = None) -> Callable[..., Any]:
        async def handler(request: Request) -> Response:
            with state.lock:
                shown = render(request)
                if param is None:
                    return listing(request, [one(shown, key) for key in records()])
                key = str(request.path_params[param])
                if key not in records():
                    raise not_found(f"Unknown resource {key}")
                return JSONResponse(one(shown, key))
        return handler

    async def conversation_inboxes(request: Request) -> Response:
        with state.lock:
            conv = state.conversation(cid(request))
            return listing(request, [render(request).inbox(conv["inbox_id"])])

    async def me(request: Request) -> Response:
        return JSONResponse({"_links": {"self": f"{base_url(request)}/me"}, "name": "Acme", "id": state.company_id})

    async def create_tag(request: Request) -> Response:
        body = await body_of(request)
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            raise bad_request("name is required")
        with state.lock:
            return JSONResponse(render(request).tag(state.tag_named(body["name"].strip())["id"]), status_code=201)

    one = "/conversations/{conversation_id}"
    return [
        Route("/me", me, methods=["GET"]),
        Route("/conversations", conversations, methods=["GET"]),
        Route(one, conversation, methods=["GET"]),
        Route(one, patch, methods=["PATCH"]),
        Route(one + "/assignee", assignee, methods=["PUT"]),
        Route(one + "/inboxes", conversation_inboxes, methods=["GET"]),
        Route(one + "/tags", tags, methods=["POST", "DELETE"]),
        Route(one + "/messages", messages, methods=["GET"]),
        Route(one + "/messages", reply, methods=["POST"]),
        Route(one + "/comments", comments, methods=["GET"]),
        Route(one + "/comments", comment, methods=["POST"]),
        Route("/channels/{channel_id}/incoming_messages", incoming, methods=["POST"]),
        Route("/messages/{message_id}", message_by_uid, methods=["GET"]),
        Route("/events", events, methods=["GET"]),
        Route("/tags", directory(lambda: state.tags, Render.tag), methods=["GET"]),
        Route("/tags", create_tag, methods=["POST"]),
        Route("/teammates", directory(lambda: state.teammates, Render.teammate), methods=["GET"]),
        Route("/teammates/{teammate_id}", directory(lambda: state.teammates, Render.teammate, "teammate_id")),
        Route("/teams", directory(lambda: state.teams, Render.team), methods=["GET"]),
        Route("/teams/{team_id}", directory(lambda: state.teams, Render.team, "team_id")),
        Route("/contacts", directory(lambda: state.contacts, Render.contact), methods=["GET"]),
        Route("/contacts/{contact_id}", directory(lambda: state.contacts, Render.contact, "contact_id")),
        Route("/channels", directory(lambda: state.channels, Render.channel), methods=["GET"]),
        Route("/inboxes", directory(lambda: state.inboxes, Render.inbox), methods=["GET"]),
        Route("/company/statuses", directory(lambda: state.statuses, Render.status), methods=["GET"]),
    ]


def create_app(state: FrontState | None = None, *, token: str = DEFAULT_TOKEN, plan: str = "enterprise",
               rate_limit: int | None = None, window_s: float = 60.0, webhook_url: str | None = None,
               webhook_secret: str | None = None, delivery: WebhookDelivery | None = None,
               clock: Callable[[], float] | None = None, tick_s: float = 0.2,
               oauth: AuthServer | None = None) -> Starlette:
    """The simulator as an ASGI app (``app.state.front``, ``.delivery``, ``.gate``, ``.stop_ticker``).

    ``webhook_url`` saves an application webhook (signed with ``webhook_secret``) from a background
    thread (:func:`subscribe`: the receiver must echo the validation challenge); API calls wait for it."""
    if plan not in PLANS:
        raise ValueError(f"unknown Front plan {plan!r}: one of {', '.join(PLANS)}")
    state = state or FrontState(clock=clock or time.time)
    state.tokens.setdefault(token, state.bot["id"])
    sender = delivery or WebhookDelivery(max_attempts=5, backoff_s=1.0, clock=time.monotonic)
    gate = Gate(state, rate_limit or PLANS[plan], window_s, oauth=oauth)

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, FrontError)
        return JSONResponse(exc.body, status_code=exc.status)

    app = Starlette(routes=[*_routes(state), *(front_oauth.routes(oauth) if oauth is not None else [])],
                    exception_handlers={FrontError: on_error})
    ready = threading.Event()  # the API answers once the webhook is saved (or could not be)
    app.state.subscribed, app.state.root = False, "http://127.0.0.1"

    async def dispatch(request: Request, call_next: Callable[..., Any]) -> Response:
        app.state.root = base_url(request)
        if not ready.is_set():
            await anyio.to_thread.run_sync(ready.wait, SUBSCRIBE_WAIT_S)
        return await gate(request, call_next)

    app.add_middleware(BaseHTTPMiddleware, dispatch=dispatch)
    stop = threading.Event()

    def tick() -> None:  # accepted messages appear on time even when nobody asks
        while not stop.wait(tick_s):
            state.settle()

    def save_webhook() -> None:  # as an admin saving the app's webhook: validated, retried while unreachable
        try:
            if webhook_url:
                app.state.subscribed = subscribe(app, webhook_url, webhook_secret or "", stop)
        finally:
            ready.set()

    app.state.front, app.state.delivery, app.state.gate, app.state.stop_ticker = state, sender, gate, stop.set
    app.state.ready = ready
    threading.Thread(target=tick, name="front-sim-ticker", daemon=True).start()
    threading.Thread(target=save_webhook, name="front-sim-webhook", daemon=True).start()
    return app


def subscribe(app: Starlette, url: str, secret: str, stop: threading.Event | None = None) -> bool:
    """Save an application webhook: Front validates ``url`` (challenge; retried for SUBSCRIBE_WAIT_S while
    the receiver cannot be reached) and, once it is echoed, sends it every event."""
    state: FrontState = app.state.front
    deadline = time.monotonic() + SUBSCRIBE_WAIT_S
    while (ok := validate(url, secret, state.company_id, state.clock())) is None and time.monotonic() < deadline:
        if stop is not None and stop.wait(0.2):
            return False
    if not ok:
        return False
    state.listeners.append(Subscriber(state, lambda: str(app.state.root), url, secret, app.state.delivery))
    return True


class FrontSim(SimServer):
    """A running simulator: ``.url``, ``.port``, ``.state``, ``.delivery``, ``.subscribed``."""

    state: FrontState
    delivery: WebhookDelivery

    @property
    def subscribed(self) -> bool:
        """The application webhook was saved (waits for its validation)."""
        self.app.state.ready.wait(SUBSCRIBE_WAIT_S)
        return bool(self.app.state.subscribed)

    def stop(self, timeout: float = 5.0) -> None:
        super().stop(timeout)
        self.app.state.stop_ticker()
        self.delivery.close()


def start(state: FrontState | None = None, *, host: str = "127.0.0.1", port: int = 0, **options: Any) -> FrontSim:
    """Start the simulator on a background thread (options as :func:`create_app`)."""
    app = create_app(state, **options)
    sim = FrontSim(app, host, port)
    sim.state, sim.delivery = app.state.front, app.state.delivery
    app.state.root = sim.start().url
    return sim
