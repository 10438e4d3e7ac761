"""What the Freshdesk definition (defs/freshdesk.yaml) can't say as data.

- ``text_to_html``: bodies are HTML in Freshdesk; deskhand's plain text is escaped, its blank-line
  paragraphs become ``<p>`` and its line breaks ``<br>`` (Freshdesk's ``body_text`` reads them back);
- ``create_ticket``: Freshdesk requires a requester: without a requester email the ticket is the API
  agent's own (``POST /tickets`` with ``email`` of ``GET /agents/me``);
- ``add_tags``: ``PUT /tickets/{id}`` replaces the whole tag set, so the current tags are read and
  the new ones added to them (Freshdesk v2 has no add-tags call);
- ``changed_tickets``: the sync feed's page — tickets updated since a time (``updated_since``,
  oldest first) together with the deleted view over the same time, each ``deleted: true``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from deskhand.errors import BadResponse
from deskhand.model import Action
from deskhand.providers.connector import Connector, response_json
from deskhand.providers.pages import items_at
from deskhand.timestamps import parse_timestamp

FEED_PAGE = 100
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # the feed's since_format and Freshdesk's updated_at


def text_to_html(value: Any) -> str:
    """Plain text as Freshdesk HTML: escaped, paragraphs (blank lines) as ``<p>``, line breaks ``<br>``."""
    paragraphs = [p for p in re.split(r"\n\s*\n", str(value).strip()) if p.strip()]
    return "".join(f"<p>{html.escape(p.strip()).replace(chr(10), '<br>')}</p>" for p in paragraphs)


def create_ticket(connector: Connector, args: Mapping[str, Any]) -> Any:
    """``POST /tickets`` (Open, source Portal); the requester is the API agent when no email is given."""
    email = args.get("requester_email") or connector.current_user().email
    body = {"subject": args["subject"], "description": text_to_html(args["body"]), "email": email, "status": 2,
            "name": args.get("requester_name"), "tags": list(args.get("tags") or []) or None,
            "priority": args.get("priority")}
    response = connector.http.request("POST", "/tickets", json={k: v for k, v in body.items() if v is not None})
    return response_json(response)


def add_tags(connector: Connector, action: Action, args: Mapping[str, Any]) -> dict[str, Any]:
    """Read the ticket's tags, then PUT them with the new ones appended (others kept, no duplicates)."""
    ticket_id = str(args["ticket_id"])
    current = response_json(connector.http.request("GET", f"/tickets/{ticket_id}"))
    if not isinstance(current, Mapping) or not isinstance(current.get("tags"), list):
        raise BadResponse(f"freshdesk GET /tickets/{ticket_id}: no tags list in {str(current)[:200]}")
    tags = list(current["tags"])
    known = {t.lower() for t in tags}
    for tag in args.get("tags") or []:
        if str(tag).lower() not in known:
            tags.append(str(tag))
            known.add(str(tag).lower())
    response = connector.http.request("PUT", f"/tickets/{ticket_id}", json={"tags": tags})
    body = response_json(response)
    return {"action": action.kind.value, "ticket_id": action.ticket_id, "status_code": response.status_code,
            "tags": body.get("tags") if isinstance(body, Mapping) else tags}


def _listing(connector: Connector, since: str, view: str | None, past: str) -> tuple[list[dict[str, Any]], bool]:
    """Tickets of one view updated since ``since``, oldest first: pages are followed (``Link``) until
    one reaches past ``past`` or the view ends. Returns the records and whether more remain."""
    params: dict[str, Any] = {"updated_since": since, "order_by": "updated_at", "order_type": "asc",
                              "per_page": FEED_PAGE, "include": "description"}
    if view:
        params["filter"] = view
    rows: list[dict[str, Any]] = []
    url: str = "/tickets"
    query: dict[str, Any] | None = params
    while True:
        response = connector.http.request("GET", url, params=query)
        where = f"freshdesk GET {response.request.url}"
        page = items_at(response_json(response), None, where, status=response.status_code)
        rows += page
        following = response.links.get("next", {}).get("url")
        if not following or not page:
            return rows, False
        if page[-1]["updated_at"] > past:
            return rows, True
        url, query = following, None


def changed_tickets(connector: Connector, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One feed page: live and deleted tickets updated since ``args["query"]``, oldest first.

    Each view is read until it gets past the feed's overlap window (so the page always moves the
    feed forward, however many tickets share one second). Where a view has more, records newer than
    its last one are left out: the feed's next page starts there, so none falls between the two.
    """
    since = str(args["query"])
    feed = connector.definition.sync.feed if connector.definition.sync else None
    overlap = feed.overlap_s if feed else 0.0
    start = parse_timestamp(since, "iso8601")
    past = (start + timedelta(seconds=overlap)).strftime(TIME_FORMAT)
    live, live_more = _listing(connector, since, None, past)
    gone, gone_more = _listing(connector, since, "deleted", past)
    rows = live + [{**t, "deleted": True} for t in gone]
    cutoffs = [view[-1]["updated_at"] for view, more in ((live, live_more), (gone, gone_more)) if more]
    if cutoffs:
        rows = [r for r in rows if r["updated_at"] <= min(cutoffs)]
    return sorted(rows, key=lambda r: (r["updated_at"], r["id"]))
