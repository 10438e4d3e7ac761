"""Zendesk Help Center in the simulator: categories → sections → articles, read-only list/show.

Shapes follow the Help Center API (``/api/v2/help_center/articles.json`` and per-locale variants,
``sections.json``, ``categories.json``; article fields ``id, url, html_url, title, body`` (HTML),
``locale, section_id, draft, created_at, updated_at``), with the same cursor (``page[size]``) and
offset (``page``/``per_page``) pagination as the Support API. Drafts are listed like the real API
does for agents; the puller skips them. State hangs off the account's ``ZendeskState``.
"""

from __future__ import annotations

import itertools
import weakref
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from deskhand.sim.base import iso_utc
from deskhand.sim.zendesk_pages import paginate
from deskhand.sim.zendesk_state import ZendeskState, not_found


class HelpCenter:
    def __init__(self, state: ZendeskState) -> None:
        self.state = state
        self.categories: dict[int, dict[str, Any]] = {}
        self.sections: dict[int, dict[str, Any]] = {}
        self.articles: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(115_000_000_001, 13)

    def _stamp(self) -> str:
        return iso_utc(self.state.clock())

    def add_category(self, name: str, locale: str = "en-us") -> dict[str, Any]:
        with self.state.lock:
            now = self._stamp()
            row: dict[str, Any] = {"id": next(self._ids), "name": name, "locale": locale,
                                   "position": len(self.categories), "created_at": now, "updated_at": now}
            self.categories[row["id"]] = row
            return row

    def add_section(self, category_id: int, name: str, locale: str = "en-us") -> dict[str, Any]:
        with self.state.lock:
            now = self._stamp()
            row: dict[str, Any] = {"id": next(self._ids), "category_id": category_id, "name": name, "locale": locale,
                                   "position": len(self.sections), "created_at": now, "updated_at": now}
            self.sections[row["id"]] = row
            return row

    def add_article(self, section_id: int, title: str, body: str, *, draft: bool = False,
                    locale: str = "en-us") -> dict[str, Any]:
        with self.state.lock:
            now = self._stamp()
            row: dict[str, Any] = {"id": next(self._ids), "section_id": section_id, "title": title, "body": body,
                                   "locale": locale, "draft": draft, "author_id": self.state.admin["id"],
                                   "label_names": [], "created_at": now, "updated_at": now, "edited_at": now}
            self.articles[row["id"]] = row
            return row

    def update_article(self, article_id: int, **changes: Any) -> dict[str, Any]:
        with self.state.lock:
            row = self.articles[article_id]
            row.update(changes, updated_at=self._stamp(), edited_at=self._stamp())
            return row

    def delete_article(self, article_id: int) -> None:
        with self.state.lock:
            self.articles.pop(article_id, None)


_centers: weakref.WeakKeyDictionary[ZendeskState, HelpCenter] = weakref.WeakKeyDictionary()


def help_center(state: ZendeskState) -> HelpCenter:
    """The Help Center of this simulated account (created empty on first use)."""
    with state.lock:
        if state not in _centers:
            _centers[state] = HelpCenter(state)
        return _centers[state]


def routes(state: ZendeskState) -> list[Route]:
    def render(kind: str, request: Request) -> Any:
        api = f"{request.url.scheme}://{request.url.netloc}/api/v2/help_center"
        page = f"{request.url.scheme}://{request.url.netloc}/hc/en-us/{kind}"

        def one(row: dict[str, Any]) -> dict[str, Any]:
            slug = "-".join((row.get("title") or row.get("name") or "").lower().split())[:60]
            return {**row, "url": f"{api}/{row['locale']}/{kind}/{row['id']}.json",
                    "html_url": f"{page}/{row['id']}-{slug}"}

        return one

    def listing(kind: str) -> tuple[Any, Any]:
        def rows(request: Request) -> list[dict[str, Any]]:
            center = help_center(state)
            records: dict[int, dict[str, Any]] = getattr(center, kind)
            locale = request.path_params.get("locale")
            with state.lock:
                return [r for _, r in sorted(records.items()) if not locale or r["locale"] == locale.lower()]

        async def index(request: Request) -> Response:
            return JSONResponse(paginate(request, kind, rows(request), render(kind, request)))

        async def show(request: Request) -> Response:
            found = getattr(help_center(state), kind).get(int(request.path_params["record_id"]))
            if found is None:
                raise not_found()
            return JSONResponse({kind[:-1]: render(kind, request)(found)})

        return index, show

    out = []
    for kind in ("articles", "sections", "categories"):
        index, show = listing(kind)
        for prefix in ("/api/v2/help_center", "/api/v2/help_center/{locale}"):
            out += [Route(f"{prefix}/{kind}", index, methods=["GET"]),
                    Route(f"{prefix}/{kind}/{{record_id:int}}", show, methods=["GET"])]
    return out
