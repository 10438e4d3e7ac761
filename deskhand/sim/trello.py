"""Faithful local simulator of the Trello REST API (the parts a ticket auto-responder uses).

In-process (tests, demo)::

    with start() as sim:                   # a TrelloSim with .state, .delivery, .limits, .dispatcher
        client = TrelloClient(DEFAULT_KEY, api_secret=DEFAULT_TOKEN, http_service=rewrite_to(sim.url))

CLI: ``deskhand sim trello --port N`` (deskhand.sim.trello_spec). A card is a ticket, its list its
status, ``closed`` archived; comments are ``commentCard`` actions. Auth and limits:
:mod:`deskhand.sim.trello_limits`; webhooks: :mod:`deskhand.sim.trello_webhooks`. Every success is
200 (py-trello treats anything else as an error), trailing slashes are ignored, parameters may come
in the query, a JSON body or a form. Shapes follow FACTS.md §7 and §12.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from deskhand.sim.base import SimServer, WebhookDelivery
from deskhand.sim.trello_limits import Gate, Limits
from deskhand.sim.trello_oauth import OAuth1Server
from deskhand.sim.trello_state import TrelloError, TrelloState, invalid, not_found
from deskhand.sim.trello_webhooks import Dispatcher
from deskhand.sim.trello_webhooks import create as create_webhook
from deskhand.sim.trello_webhooks import delivery as trello_delivery
from deskhand.sim.trello_webhooks import view as hook_view
from deskhand.timestamps import parse_timestamp

DEFAULT_KEY = "deskhand-sim-key"
DEFAULT_TOKEN = "deskhand-sim-token"  # the registry's default token
DEFAULT_SECRET = "deskhand-sim-app-secret"  # the application secret that signs webhooks
CARD_FILTERS = ("open", "closed", "all", "visible")


async def params_of(request: Request) -> dict[str, Any]:
    """Query, JSON body and form merged (Trello takes a parameter from any of them); no key/token."""
    values: dict[str, Any] = {k: v for k, v in request.query_params.items() if k not in ("key", "token")}
    raw = await request.body()
    if raw:
        kind = request.headers.get("content-type", "")
        if kind.startswith("application/json"):
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                raise TrelloError(400, "Invalid JSON") from None
            if not isinstance(body, dict):
                raise TrelloError(400, "Invalid JSON")
            values |= body
        else:
            values |= dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    values.pop("key", None)
    values.pop("token", None)
    return values


def _limit(request: Request, default: int, ceiling: int = 1000) -> int:
    raw = request.query_params.get("limit", str(default))
    if not raw.isdigit() or not 0 <= int(raw) <= ceiling:
        raise invalid("limit")
    return int(raw)


def _filter_cards(cards: list[dict[str, Any]], which: str) -> list[dict[str, Any]]:
    if which not in CARD_FILTERS:
        raise invalid("filter")
    if which == "all":
        return cards
    return [c for c in cards if c["closed"] == (which == "closed")]


def _page_cards(request: Request, cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``limit``/``before``/``since`` on card ids (newest first when paged, as py-trello expects)."""
    q = request.query_params
    if not any(k in q for k in ("limit", "before", "since")):
        return sorted(cards, key=lambda c: c["pos"])
    rows = sorted(cards, key=lambda c: c["id"], reverse=True)
    if q.get("before"):
        rows = [c for c in rows if c["id"] < q["before"]]
    if q.get("since"):
        rows = [c for c in rows if c["id"] > q["since"]]
    return rows[:_limit(request, 1000)]


def _actions(request: Request, actions: list[dict[str, Any]], default_filter: str) -> list[dict[str, Any]]:
    """Actions newest first, filtered by type, ``since``/``before`` (an ISO date or an action id), ``limit``."""
    q = request.query_params
    kinds = {k for k in q.get("filter", default_filter).split(",") if k and k != "all"}
    rows = [a for a in reversed(actions) if not kinds or a["type"] in kinds]
    for name, newer in (("since", True), ("before", False)):
        if q.get(name):
            mark = _mark(q[name], name)
            rows = [a for a in rows if (_key(a, mark) > mark[1]) == newer and _key(a, mark) != mark[1]]
    return rows[:_limit(request, 50)]


def _mark(raw: str, name: str) -> tuple[bool, Any]:
    """``(is an id, value)``: an action id (24 hex) or a date (or ``lastView``-free ISO text)."""
    if len(raw) == 24 and all(c in "0123456789abcdef" for c in raw):
        return True, raw
    try:
        return False, parse_timestamp(raw)
    except ValueError:
        raise invalid(name) from None


def _key(action: dict[str, Any], mark: tuple[bool, Any]) -> Any:
    return action["id"] if mark[0] else parse_timestamp(action["date"])


def _routes(state: TrelloState, dispatcher: Dispatcher) -> list[Route]:
    def card_view(card: dict[str, Any], request: Request | None = None) -> dict[str, Any]:
        shown = {k: v for k, v in card.items() if k != "customFieldItems"}
        shown["badges"] = state.badges(card)
        if request is not None and request.query_params.get("customFieldItems") == "true":
            shown["customFieldItems"] = []
        if request is not None and request.query_params.get("actions"):  # nested actions, newest first
            kinds = set(request.query_params["actions"].split(","))
            mine = [a for a in reversed(state.actions) if a["data"]["card"]["id"] == card["id"]
                    and ("all" in kinds or a["type"] in kinds)]
            shown["actions"] = mine[:int(request.query_params.get("actions_limit", "50") or 50)]
        return shown

    def ok(data: Any) -> Response:
        return JSONResponse(data)

    def locked(fn: Callable[[Request, dict[str, Any]], Any]) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            params = await params_of(request) if request.method in ("POST", "PUT", "DELETE") else {}
            with state.lock:
                return ok(fn(request, params))
        return handler

    def me(request: Request) -> str:
        return str(request.state.member_id)

    def pid(request: Request, name: str = "id") -> str:
        return str(request.path_params[name])

    # members and boards
    def member(request: Request, p: dict[str, Any]) -> Any:
        mid = me(request) if pid(request) == "me" else pid(request)
        return dict(state.member(mid))

    def member_boards(request: Request, p: dict[str, Any]) -> Any:
        mid = me(request) if pid(request) == "me" else state.member(pid(request))["id"]
        which = request.query_params.get("filter", "all")
        rows = [state.boards[b] for b in state.member(mid)["idBoards"]]
        if which in ("open", "closed"):
            rows = [b for b in rows if b["closed"] == (which == "closed")]
        return rows

    def board(request: Request, p: dict[str, Any]) -> Any:
        found = state.board(pid(request))
        _member_of(request, found["id"])
        return found

    def _member_of(request: Request, board_id: str) -> None:
        if me(request) not in state.board_members[board_id]:
            raise TrelloError(401, "unauthorized permission requested")

    def new_board(request: Request, p: dict[str, Any]) -> Any:
        name = p.get("name")
        if not isinstance(name, str) or not name.strip():
            raise invalid("name")
        made = state.add_board(name, me(request), _s(p.get("desc")))
        if str(p.get("defaultLists", "true")).lower() != "false":
            for title in ("To Do", "Doing", "Done"):
                state.add_list(made["id"], title)
        return made

    def board_lists(request: Request, p: dict[str, Any]) -> Any:
        bid = board(request, p)["id"]
        which = request.query_params.get("filter", "open")
        rows = sorted((lst for lst in state.lists.values() if lst["idBoard"] == bid), key=lambda lst: lst["pos"])
        return rows if which == "all" else [lst for lst in rows if lst["closed"] == (which == "closed")]

    def board_cards(request: Request, p: dict[str, Any]) -> Any:
        bid = board(request, p)["id"]
        which = request.path_params.get("filter") or request.query_params.get("filter", "visible")
        rows = _filter_cards([c for c in state.cards.values() if c["idBoard"] == bid], which)
        return [card_view(c, request) for c in _page_cards(request, rows)]

    def board_labels(request: Request, p: dict[str, Any]) -> Any:
        bid = board(request, p)["id"]
        return [lb for lb in state.labels.values() if lb["idBoard"] == bid]

    def board_members(request: Request, p: dict[str, Any]) -> Any:
        bid = board(request, p)["id"]
        return [{k: state.members[m][k] for k in ("id", "fullName", "username")} for m in state.board_members[bid]]

    def board_memberships(request: Request, p: dict[str, Any]) -> Any:
        bid = board(request, p)["id"]
        with_member = request.query_params.get("member") == "true"
        rows = []
        for mid in state.board_members[bid]:
            row: dict[str, Any] = {"id": f"{mid[:12]}{bid[-12:]}", "idMember": mid,
                                   "memberType": state.member_types.get((bid, mid), "normal"),
                                   "unconfirmed": False, "deactivated": False}
            if with_member:
                row["member"] = {k: state.members[mid][k] for k in ("id", "fullName", "username", "initials")}
            rows.append(row)
        return rows

    def board_actions(request: Request, p: dict[str, Any]) -> Any:
        bid = board(request, p)["id"]
        return _actions(request, [a for a in state.actions if a["data"]["board"]["id"] == bid], "all")

    # lists and labels
    def new_list(request: Request, p: dict[str, Any]) -> Any:
        _member_of(request, state.board(_s(p.get("idBoard")))["id"])
        return state.add_list(_s(p.get("idBoard")), _s(p.get("name")), p.get("pos"))

    def get_list(request: Request, p: dict[str, Any]) -> Any:
        return state.list_(pid(request))

    def list_cards(request: Request, p: dict[str, Any]) -> Any:
        lid = state.list_(pid(request))["id"]
        rows = _filter_cards([c for c in state.cards.values() if c["idList"] == lid],
                             request.query_params.get("filter", "open"))
        return [card_view(c, request) for c in _page_cards(request, rows)]

    def new_label(request: Request, p: dict[str, Any]) -> Any:
        return state.add_label(_s(p.get("idBoard")), _s(p.get("name")), p.get("color") or None)

    def get_label(request: Request, p: dict[str, Any]) -> Any:
        return state.label(pid(request))

    # cards
    def new_card(request: Request, p: dict[str, Any]) -> Any:
        return card_view(state.create_card(p, me(request)))

    def get_card(request: Request, p: dict[str, Any]) -> Any:
        card = state.card(pid(request))
        _member_of(request, card["idBoard"])
        return card_view(card, request)

    def put_card(request: Request, p: dict[str, Any]) -> Any:
        fields = {k: v for k, v in p.items() if k in ("idList", "closed", "name", "desc", "due", "pos",
                                                      "idMembers", "idLabels")}
        return card_view(state.update_card(pid(request), fields, me(request)))

    def put_field(request: Request, p: dict[str, Any]) -> Any:
        field = pid(request, "field")
        if field not in ("idList", "closed", "name", "desc", "due", "pos"):
            raise not_found(f"Cannot PUT /1/cards/{pid(request)}/{field}")
        if "value" not in p:
            raise invalid("value")
        return card_view(state.update_card(pid(request), {field: p["value"]}, me(request)))

    def add_to(request: Request, p: dict[str, Any]) -> Any:
        key = "idMembers" if pid(request, "field") in ("idMembers", "members") else "idLabels"
        return state.add_to(pid(request), key, _s(p.get("value")), me(request))

    def remove_from(request: Request, p: dict[str, Any]) -> Any:
        return state.remove_from(pid(request), pid(request, "field"), pid(request, "value"), me(request))

    def delete_card(request: Request, p: dict[str, Any]) -> Any:
        state.delete_card(pid(request), me(request))
        return {"limits": {}}

    def comment(request: Request, p: dict[str, Any]) -> Any:
        return state.comment(pid(request), p.get("text"), me(request))

    def card_actions(request: Request, p: dict[str, Any]) -> Any:
        cid = state.card(pid(request))["id"]
        return _actions(request, [a for a in state.actions if a["data"]["card"]["id"] == cid], "commentCard")

    def empty(request: Request, p: dict[str, Any]) -> Any:
        state.card(pid(request))
        return []

    def edit_action(request: Request, p: dict[str, Any]) -> Any:
        return state.edit_comment(pid(request), p.get("text"), me(request))

    def delete_action(request: Request, p: dict[str, Any]) -> Any:
        state.delete_comment(pid(request), me(request))
        return {"_value": None}

    def delete_card_comment(request: Request, p: dict[str, Any]) -> Any:
        state.delete_comment(pid(request, "action"), me(request))
        return {"_value": None}

    # webhooks
    async def new_webhook(request: Request) -> Response:
        hook = await create_webhook(state, await params_of(request), request.state.token, request.state.api_key)
        return ok(hook_view(hook))

    def token_webhooks(request: Request, p: dict[str, Any]) -> Any:
        dispatcher.record_failures()
        return [hook_view(h) for h in state.webhooks.values() if h["_token"] == request.state.token]

    def get_webhook(request: Request, p: dict[str, Any]) -> Any:
        dispatcher.record_failures()
        hook = state.webhooks.get(pid(request))
        if hook is None or hook["_token"] != request.state.token:
            raise not_found("model not found")
        if request.method == "DELETE":
            del state.webhooks[hook["id"]]
            return {"_value": None}
        return hook_view(hook)

    card = "/1/cards/{id}"
    return [
        Route("/1/members/{id}", locked(member), methods=["GET"]),
        Route("/1/members/{id}/boards", locked(member_boards), methods=["GET"]),
        Route("/1/boards", locked(new_board), methods=["POST"]),
        Route("/1/boards/{id}", locked(board), methods=["GET"]),
        Route("/1/boards/{id}/lists", locked(board_lists), methods=["GET"]),
        Route("/1/boards/{id}/cards", locked(board_cards), methods=["GET"]),
        Route("/1/boards/{id}/cards/{filter}", locked(board_cards), methods=["GET"]),
        Route("/1/boards/{id}/labels", locked(board_labels), methods=["GET"]),
        Route("/1/boards/{id}/members", locked(board_members), methods=["GET"]),
        Route("/1/boards/{id}/memberships", locked(board_memberships), methods=["GET"]),
        Route("/1/boards/{id}/actions", locked(board_actions), methods=["GET"]),
        Route("/1/lists", locked(new_list), methods=["POST"]),
        Route("/1/lists/{id}", locked(get_list), methods=["GET"]),
        Route("/1/lists/{id}/cards", locked(list_cards), methods=["GET"]),
        Route("/1/labels", locked(new_label), methods=["POST"]),
        Route("/1/labels/{id}", locked(get_label), methods=["GET"]),
        Route("/1/cards", locked(new_card), methods=["POST"]),
        Route(card, locked(get_card), methods=["GET"]),
        Route(card, locked(put_card), methods=["PUT"]),
        Route(card, locked(delete_card), methods=["DELETE"]),
        Route(card + "/actions", locked(card_actions), methods=["GET"]),
        Route(card + "/actions/comments", locked(comment), methods=["POST"]),
        Route(card + "/actions/{action}/comments", locked(delete_card_comment), methods=["DELETE"]),
        Route(card + "/pluginData", locked(empty), methods=["GET"]),
        Route(card + "/checklists", locked(empty), methods=["GET"]),
        Route(card + "/attachments", locked(empty), methods=["GET"]),
        Route(card + "/{field}", locked(put_field), methods=["PUT"]),
        Route(card + "/{field}", locked(add_to), methods=["POST"]),
        Route(card + "/{field}/{value}", locked(remove_from), methods=["DELETE"]),
        Route("/1/actions/{id}", locked(edit_action), methods=["PUT"]),
        Route("/1/actions/{id}", locked(delete_action), methods=["DELETE"]),
        Route("/1/webhooks", new_webhook, methods=["POST"]),
        Route("/1/tokens/{token}/webhooks", new_webhook, methods=["POST"]),
        Route("/1/tokens/{token}/webhooks", locked(token_webhooks), methods=["GET"]),
        Route("/1/webhooks/{id}", locked(get_webhook), methods=["GET", "DELETE"]),
    ]


def _s(value: Any) -> str:
    return "" if value is None else str(value)


class _NoTrailingSlash:
    """Trello ignores a trailing slash (py-trello sends ``/members/me/boards/``, ``/tokens/{t}/webhooks/``)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and len(scope["path"]) > 1 and scope["path"].endswith("/"):
            scope = {**scope, "path": scope["path"].rstrip("/"), "raw_path": scope["raw_path"].rstrip(b"/")}
        await self.app(scope, receive, send)


def create_app(state: TrelloState | None = None, *, api_key: str = DEFAULT_KEY, token: str = DEFAULT_TOKEN,
               app_secret: str = DEFAULT_SECRET, key_max: int = 300, token_max: int = 100, window_s: float = 10.0,
               delivery: WebhookDelivery | None = None, retry_scale: float = 1.0,
               clock: Callable[[], float] | None = None) -> Any:
    """The simulator as an ASGI app; ``app.state.trello``, ``.delivery``, ``.limits``, ``.dispatcher``.
    With no state, a board "Support" with lists New / Waiting / Done and the admin as ``token``'s member."""
    if state is None:
        from deskhand.sim.trello_seed import default_state

        state = default_state(token, clock=clock or time.time)
    state.app_secrets.setdefault(api_key, app_secret)
    sender = delivery or trello_delivery(retry_scale)
    dispatcher = Dispatcher(state, sender)
    state.listeners.append(dispatcher)
    limits = Limits(key_max, token_max, window_s, clock or time.monotonic)

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TrelloError)
        if exc.body is not None:
            return JSONResponse(exc.body, status_code=exc.status)
        return PlainTextResponse(exc.text, status_code=exc.status)

    oauth1 = OAuth1Server(state, state.tokens[token])  # the member of `token` approves on the consent page
    app = Starlette(routes=[*oauth1.routes(), *_routes(state, dispatcher)], exception_handlers={TrelloError: on_error})
    app.add_middleware(BaseHTTPMiddleware, dispatch=Gate(lambda: state.app_secrets, state.live_tokens, limits))
    app.state.trello, app.state.delivery, app.state.limits, app.state.dispatcher = state, sender, limits, dispatcher
    app.state.oauth1 = oauth1
    wrapped = _NoTrailingSlash(app)
    wrapped.state = app.state  # type: ignore[attr-defined]
    return wrapped


class TrelloSim(SimServer):
    """A running simulator: ``.url``, ``.port``, ``.state``, ``.delivery``, ``.limits``, ``.dispatcher``."""

    state: TrelloState
    delivery: WebhookDelivery
    limits: Limits
    dispatcher: Dispatcher

    def stop(self, timeout: float = 5.0) -> None:
        super().stop(timeout)
        self.delivery.close()


def start(state: TrelloState | None = None, *, host: str = "127.0.0.1", port: int = 0, **options: Any) -> TrelloSim:
    """Start the simulator on a background thread (options as :func:`create_app`)."""
    app = create_app(state, **options)
    sim = TrelloSim(app, host, port)
    sim.state, sim.delivery = app.state.trello, app.state.delivery
    sim.limits, sim.dispatcher = app.state.limits, app.state.dispatcher
    return sim.start()  # type: ignore[return-value]
