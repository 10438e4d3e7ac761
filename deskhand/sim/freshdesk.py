"""Faithful local simulator of the Freshdesk API v2 (the parts a ticket auto-responder uses).

In-process (tests, demo)::

    with start(webhook_url=url, webhook_secret="s") as sim:   # a SimServer with .state and .delivery
        api = freshdesk.v2.api.API("sim.freshdesk.com", DEFAULT_API_KEY)
        api._api_prefix = f"{sim.url}/api/v2/"

CLI: ``deskhand sim freshdesk --port N`` (deskhand.sim.freshdesk_spec). Auth is Basic with the API key
as the user and ``X`` (any) as the password; the default key is ``deskhand-sim-token``. Lists page
with ``page``/``per_page`` (≤ 100, default 30) and a ``Link: <…>; rel="next"`` header; the ticket
list shows only tickets created in the past 30 days unless ``updated_since`` is given. Limits per minute by plan
(:mod:`deskhand.sim.freshdesk_limits`); webhooks come from automation rules
(:mod:`deskhand.sim.freshdesk_webhooks`). Shapes follow FACTS.md §6 and developers.freshdesk.com.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from deskhand.sim.base import SimServer, WebhookDelivery, base_url
from deskhand.sim.freshdesk_limits import Gate, Limits
from deskhand.sim.freshdesk_records import FreshdeskError, invalid_json, not_found, public, validation
from deskhand.sim.freshdesk_search import search_page
from deskhand.sim.freshdesk_state import SORTS, FreshdeskState, parse_time
from deskhand.sim.freshdesk_webhooks import Dispatcher, Rule, deskhand_rules
from deskhand.sim.freshdesk_webhooks import delivery as freshdesk_delivery

DEFAULT_API_KEY = "deskhand-sim-token"  # the registry's default token
DEFAULT_EMAIL = "admin@deskhand.test"
MAX_LIST_PAGE = 300
VIEWS = ("new_and_my_open", "watching", "spam", "deleted")
# what a ticket view has and a list row has not (a real list row: airbytehq/airbyte source-freshdesk
# unit_tests/resource/http/response/tickets.json)
LIST_ONLY = ("description", "description_text", "attachments", "source_additional_info", "form_id")


def _number(request: Request, name: str, default: int, ceiling: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= ceiling:
        raise validation((name, f"It should be a Positive Number less than or equal to {ceiling}", "invalid_value"))
    return int(raw)


def page_of(request: Request, rows: list[Any], *, max_page: int = MAX_LIST_PAGE) -> tuple[list[Any], dict[str, str]]:
    """Rows of ``page``/``per_page`` and the ``Link`` header when another page follows."""
    page, per_page = _number(request, "page", 1, max_page), _number(request, "per_page", 30, 100)
    chunk = rows[(page - 1) * per_page: page * per_page]
    if page * per_page >= len(rows) or page >= max_page:
        return chunk, {}
    params = {**dict(request.query_params), "page": str(page + 1), "per_page": str(per_page)}
    url = f"{base_url(request)}{request.url.path}?{urlencode(params, safe=',:')}"
    return chunk, {"Link": f'<{url}>; rel="next"'}


async def body_of(request: Request) -> Any:
    """The JSON body (415 unless sent as application/json, 400 when it does not parse)."""
    kind = request.headers.get("content-type", "")
    if not kind.startswith("application/json"):
        raise FreshdeskError(415, {"code": "invalid_content_type", "message": f"Content-Type header is set to "
                                   f"{kind or 'nothing'}. It should be set to application/json"})
    try:
        return json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise invalid_json() from None


def _includes(request: Request, allowed: tuple[str, ...]) -> list[str]:
    names = [i.strip() for i in request.query_params.get("include", "").split(",") if i.strip()]
    bad = [n for n in names if n not in allowed]
    if bad:
        raise validation(("include", f"It should be one of these values: '{','.join(allowed)}'", "invalid_value"))
    return names


def _ticket_routes(state: FreshdeskState) -> list[Route]:
    def view(ticket: dict[str, Any], includes: list[str]) -> dict[str, Any]:
        shown = public(ticket)
        if ticket["_deleted"]:
            shown["deleted"] = True
        if "conversations" in includes:
            shown["conversations"] = [public(c) for c in state.conversations[ticket["id"]][:10]]
        if "requester" in includes:
            shown["requester"] = state.people.person(ticket["requester_id"])
        if "company" in includes:
            company = state.people.companies.get(ticket["company_id"] or -1)
            shown["company"] = {"id": company["id"], "name": company["name"]} if company else {}
        if "stats" in includes:
            shown["stats"] = dict(ticket["_stats"])
        return shown

    def row(ticket: dict[str, Any], includes: list[str]) -> dict[str, Any]:
        shown = {k: v for k, v in view(ticket, [i for i in includes if i != "description"]).items()
                 if k not in LIST_ONLY}
        if "description" in includes:
            shown |= {"description": ticket["description"], "description_text": ticket["description_text"]}
        return shown

    def tid(request: Request) -> int:
        return int(request.path_params["ticket_id"])

    async def index(request: Request) -> Response:
        q = request.query_params
        includes = _includes(request, ("requester", "stats", "description"))
        view_name, order_by, order_type = q.get("filter"), q.get("order_by", "created_at"), q.get("order_type", "desc")
        if view_name is not None and view_name not in VIEWS:
            raise validation(("filter", f"It should be one of these values: '{','.join(VIEWS)}'", "invalid_value"))
        if order_by not in SORTS:
            raise validation(("order_by", f"It should be one of these values: '{','.join(SORTS)}'", "invalid_value"))
        if order_type not in ("asc", "desc"):
            raise validation(("order_type", "It should be one of these values: 'asc,desc'", "invalid_value"))
        since = parse_time(q["updated_since"]) if q.get("updated_since") else None
        requester = int(q["requester_id"]) if q.get("requester_id", "").isdigit() else None
        if q.get("email"):
            found = state.people.contact_by_email(q["email"])
            requester = found["id"] if found else -1
        company = int(q["company_id"]) if q.get("company_id", "").isdigit() else None
        rows = state.list_tickets(view=view_name, me=request.state.agent_id, updated_since=since,
                                  requester_id=requester, company_id=company, order_by=order_by,
                                  order_type=order_type)
        chunk, headers = page_of(request, rows)
        with state.lock:
            return JSONResponse([row(t, includes) for t in chunk], headers=headers)

    async def show(request: Request) -> Response:
        includes = _includes(request, ("conversations", "requester", "company", "stats"))
        with state.lock:
            return JSONResponse(view(state.get_ticket(tid(request)), includes))

    async def create(request: Request) -> Response:
        ticket = state.create_ticket(await body_of(request), request.state.agent_id)
        with state.lock:
            return JSONResponse(view(ticket, []), status_code=201,
                                headers={"Location": f"{base_url(request)}/api/v2/tickets/{ticket['id']}"})

    async def update(request: Request) -> Response:
        ticket = state.update_ticket(tid(request), await body_of(request), request.state.agent_id)
        with state.lock:
            return JSONResponse(view(ticket, []))

    async def delete(request: Request) -> Response:
        state.delete_ticket(tid(request), request.state.agent_id)
        return Response(status_code=204)

    async def restore(request: Request) -> Response:
        state.restore_ticket(tid(request))
        return Response(status_code=204)

    async def conversations(request: Request) -> Response:
        chunk, headers = page_of(request, state.list_conversations(tid(request)))
        return JSONResponse([public(c) for c in chunk], headers=headers)

    async def reply(request: Request) -> Response:
        conv = state.reply(tid(request), await body_of(request), request.state.agent_id)
        return JSONResponse(public(conv), status_code=201)

    async def note(request: Request) -> Response:
        conv = state.note(tid(request), await body_of(request), request.state.agent_id)
        return JSONResponse(public(conv), status_code=201)

    async def ratings(request: Request) -> Response:
        chunk, headers = page_of(request, state.list_ratings(tid(request)))
        return JSONResponse(chunk, headers=headers)

    async def rate(request: Request) -> Response:
        return JSONResponse(state.rate(tid(request), await body_of(request)), status_code=201)

    async def all_ratings(request: Request) -> Response:
        since = request.query_params.get("created_since")
        rows = state.list_ratings(created_since=parse_time(since, "created_since") if since else None)
        chunk, headers = page_of(request, rows)
        return JSONResponse(chunk, headers=headers)

    async def search(request: Request) -> Response:
        with state.lock:
            result = search_page(list(state.tickets.values()), request.query_params.get("query", ""),
                                 _number(request, "page", 1, 10**6))
            return JSONResponse({"results": [row(t, []) for t in result["results"]], "total": result["total"]})

    one = "/api/v2/tickets/{ticket_id:int}"
    return [
        Route("/api/v2/tickets", index, methods=["GET"]),
        Route("/api/v2/tickets", create, methods=["POST"]),
        Route(one, show, methods=["GET"]),
        Route(one, update, methods=["PUT"]),
        Route(one, delete, methods=["DELETE"]),
        Route(one + "/restore", restore, methods=["PUT"]),
        Route(one + "/conversations", conversations, methods=["GET"]),
        Route(one + "/reply", reply, methods=["POST"]),
        Route(one + "/notes", note, methods=["POST"]),
        Route(one + "/satisfaction_ratings", ratings, methods=["GET"]),
        Route(one + "/satisfaction_ratings", rate, methods=["POST"]),
        Route("/api/v2/surveys/satisfaction_ratings", all_ratings, methods=["GET"]),
        Route("/api/v2/search/tickets", search, methods=["GET"]),
    ]


def _directory_routes(state: FreshdeskState) -> list[Route]:
    people = state.people

    def listing(records: Callable[[Request], list[dict[str, Any]]]) -> Callable[..., Any]:
        async def index(request: Request) -> Response:
            with state.lock:
                rows = sorted(records(request), key=lambda r: r["id"])
                chunk, headers = page_of(request, rows)
                return JSONResponse([public(r) for r in chunk], headers=headers)
        return index

    def one(records: Callable[[], dict[int, dict[str, Any]]], param: str) -> Callable[..., Any]:
        async def show(request: Request) -> Response:
            with state.lock:
                found = records().get(int(request.path_params[param]))
                if found is None:
                    raise not_found()
                shown = public(found)
                if records() is people.groups:
                    shown["agent_ids"] = list(found["_agent_ids"])
                return JSONResponse(shown)
        return show

    def contacts(request: Request) -> list[dict[str, Any]]:
        q = request.query_params
        rows = [c for c in people.contacts.values() if not c["deleted"]]
        if q.get("email"):
            rows = [c for c in rows if c["email"] == q["email"].strip().lower()]
        if q.get("company_id", "").isdigit():
            rows = [c for c in rows if c["company_id"] == int(q["company_id"])]
        if q.get("_updated_since"):
            since = parse_time(q["_updated_since"], "_updated_since")
            rows = [c for c in rows if c["_updated"] >= since]
        return rows

    def agents(request: Request) -> list[dict[str, Any]]:
        email = request.query_params.get("email", "").strip().lower()
        return [a for a in people.agents.values() if not email or a["contact"]["email"] == email]

    async def me(request: Request) -> Response:
        with state.lock:
            return JSONResponse(public(people.agents[request.state.agent_id]))

    async def create_contact(request: Request) -> Response:
        data = await body_of(request)
        with state.lock:
            return JSONResponse(public(people.create_contact(data)), status_code=201)

    async def update_contact(request: Request) -> Response:
        data = await body_of(request)
        with state.lock:
            return JSONResponse(public(people.update_contact(int(request.path_params["record_id"]), data)))

    async def helpdesk(request: Request) -> Response:
        return JSONResponse({"primary_language": "en", "supported_languages": [], "portal_languages": []})

    return [
        Route("/api/v2/contacts", listing(contacts), methods=["GET"]),
        Route("/api/v2/contacts", create_contact, methods=["POST"]),
        Route("/api/v2/contacts/{record_id:int}", one(lambda: people.contacts, "record_id"), methods=["GET"]),
        Route("/api/v2/contacts/{record_id:int}", update_contact, methods=["PUT"]),
        Route("/api/v2/agents", listing(agents), methods=["GET"]),
        Route("/api/v2/agents/me", me, methods=["GET"]),
        Route("/api/v2/agents/{record_id:int}", one(lambda: people.agents, "record_id"), methods=["GET"]),
        Route("/api/v2/groups", listing(lambda r: list(people.groups.values())), methods=["GET"]),
        Route("/api/v2/groups/{record_id:int}", one(lambda: people.groups, "record_id"), methods=["GET"]),
        Route("/api/v2/companies", listing(lambda r: list(people.companies.values())), methods=["GET"]),
        Route("/api/v2/companies/{record_id:int}", one(lambda: people.companies, "record_id"), methods=["GET"]),
        Route("/api/v2/settings/helpdesk", helpdesk, methods=["GET"]),
    ]


def create_app(
    state: FreshdeskState | None = None,
    *,
    api_key: str = DEFAULT_API_KEY,
    plan: str = "enterprise",
    rate_limit: int | None = None,
    budgets: dict[str, int] | None = None,
    window_s: float = 60.0,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    webhook_basic_auth: tuple[str, str] | None = None,
    rules: list[Rule] | None = None,
    delivery: WebhookDelivery | None = None,
    retry_scale: float = 1.0,
    clock: Callable[[], float] | None = None,
) -> Starlette:
    """The simulator as an ASGI app; ``app.state.freshdesk``, ``.delivery``, ``.rules``, ``.limits``.

    ``plan`` picks FACTS' per-minute budgets; ``rate_limit`` replaces them with one account budget
    (``budgets`` adds per-endpoint ones). ``webhook_url`` installs the automation rules the README
    describes (``deskhand_rules``), sending ``webhook_secret`` in ``X-Deskhand-Secret`` and/or
    ``webhook_basic_auth``; ``rules`` adds any others.
    """
    clock = clock or (state.clock if state else time.time)
    state = state or FreshdeskState(clock=clock, admin_email=DEFAULT_EMAIL)
    state.api_keys.setdefault(api_key, state.admin["id"])
    sender = delivery or freshdesk_delivery(retry_scale)
    all_rules = list(rules or [])
    if webhook_url:
        all_rules += deskhand_rules(webhook_url, secret=webhook_secret, basic_auth=webhook_basic_auth)
    limits = Limits.plan(plan, total=rate_limit, budgets=budgets, window_s=window_s, clock=clock)
    state.listeners.append(Dispatcher(state, all_rules, sender, spend=lambda: limits.spend(1, None)[0],
                                      retry_scale=retry_scale))

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, FreshdeskError)
        if exc.body is None:
            return Response(status_code=exc.status)
        return JSONResponse(exc.body, status_code=exc.status)

    app = Starlette(routes=[*_ticket_routes(state), *_directory_routes(state)],
                    exception_handlers={FreshdeskError: on_error})
    app.add_middleware(BaseHTTPMiddleware, dispatch=Gate(lambda: state.api_keys, limits))
    app.state.freshdesk, app.state.delivery, app.state.rules, app.state.limits = state, sender, all_rules, limits
    return app


class FreshdeskSim(SimServer):
    """A running simulator: ``.url``, ``.port``, ``.state``, ``.delivery``, ``.rules``, ``.limits``."""

    state: FreshdeskState
    delivery: WebhookDelivery
    rules: list[Rule]
    limits: Limits

    def stop(self, timeout: float = 5.0) -> None:
        super().stop(timeout)
        self.delivery.close()


def start(state: FreshdeskState | None = None, *, host: str = "127.0.0.1", port: int = 0,
          **options: Any) -> FreshdeskSim:
    """Start the simulator on a background thread (options as :func:`create_app`)."""
    app = create_app(state, **options)
    sim = FreshdeskSim(app, host, port)
    sim.state, sim.delivery = app.state.freshdesk, app.state.delivery
    sim.rules, sim.limits = app.state.rules, app.state.limits
    return sim.start()  # type: ignore[return-value]
