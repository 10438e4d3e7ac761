"""What the Front definition (defs/front.yaml) can't say as data.

- ``get_conversation``: the conversation, with its first inbound message's text as ``description``
  and ``updated_at`` (the newest message or comment; a conversation names no update time);
- ``list_comments``: a conversation's messages (public; inbound ones are the customer's) and comments
  (internal) in one list, oldest first;
- ``create_ticket``: mail reaching Front — ``POST /channels/{id}/incoming_messages`` (202 +
  ``message_uid``), waiting for the message to appear, then its tags and priority;
- ``reply``: ``POST /conversations/{id}/messages`` (asynchronous: its ``message_uid`` is recorded with
  the action, then the message awaited, whose id is the comment id; a retry awaits the same uid);
- ``set_status``: the account's status id (``--set status.<status>=sts_…``), else the first ticket
  status of the category (open / waiting / resolved), else archived / open without ticketing;
- ``add_tags``: tag names to ids (created when new), then ``POST /conversations/{id}/tags`` (adds,
  keeping the other tags: ``tag_ids`` on PATCH would replace the set);
- ``api_teammate``: who deskhand writes as (connection value ``teammate_id``), else the token's company;
- ``changed_conversations``: the sync feed's page from ``/events`` after a time.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from deskhand.errors import BadResponse, ProviderError
from deskhand.model import Action
from deskhand.providers.connector import Connector, response_json
from deskhand.timestamps import parse_timestamp

CATEGORY = {"open": "open", "pending": "waiting", "solved": "resolved"}  # read back as themselves
SEND_WAIT_S = 30.0  # how long a send may take to appear before we give up (Front says "shortly")
EVENTS_PAGE = 15  # /events pages hold at most 15


def _json(connector: Connector, method: str, path: str, **kw: Any) -> Any:
    return response_json(connector.http.request(method, path, **kw))


def _all(connector: Connector, path: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every row of a list, following ``_pagination.next`` (a full URL)."""
    rows: list[dict[str, Any]] = []
    url: str | None = path
    query: Mapping[str, Any] | None = {"limit": 100, **(params or {})}
    while url:
        body = _json(connector, "GET", url, params=query)
        if not isinstance(body, Mapping) or not isinstance(body.get("_results"), list):
            raise BadResponse(f"front GET {url}: no _results list in {str(body)[:200]}")
        rows += body["_results"]
        url, query = (body.get("_pagination") or {}).get("next"), None
    return rows


def _sleep(connector: Connector) -> Callable[[float], None]:
    return getattr(connector.http, "_sleep", time.sleep)


def _sent_message(connector: Connector, uid: str) -> dict[str, Any]:
    """The message of an accepted send, once it appears (``GET /messages/alt:uid:{uid}``)."""
    waited, pause = 0.0, 0.1
    while True:
        try:
            found = _json(connector, "GET", f"/messages/alt:uid:{uid}")
            if isinstance(found, Mapping) and found.get("id"):
                return dict(found)
        except ProviderError as exc:
            if exc.status != 404:
                raise
        if waited >= SEND_WAIT_S:
            raise BadResponse(f"front: the message {uid} was accepted but did not appear within {SEND_WAIT_S:g}s")
        _sleep(connector)(pause)
        waited += pause
        pause = min(pause * 2, 2.0)


def _conversation_of(message: Mapping[str, Any]) -> str:
    link = str(((message.get("_links") or {}).get("related") or {}).get("conversation") or "")
    if not link:
        raise BadResponse(f"front message {message.get('id')}: no conversation link")
    return link.rstrip("/").rsplit("/", 1)[-1]


def _author(row: Mapping[str, Any]) -> str | None:
    author = row.get("author")
    if isinstance(author, Mapping) and author.get("id"):
        return str(author["id"])
    return None


def get_conversation(connector: Connector, args: Mapping[str, Any]) -> dict[str, Any]:
    cid = str(args["ticket_id"])
    conversation = _json(connector, "GET", f"/conversations/{cid}")
    if not isinstance(conversation, Mapping) or not conversation.get("id"):
        raise BadResponse(f"front GET /conversations/{cid}: no conversation in {str(conversation)[:200]}")
    messages = sorted(_all(connector, f"/conversations/{cid}/messages"), key=lambda m: m.get("created_at") or 0)
    comments = _all(connector, f"/conversations/{cid}/comments")
    first = next((m for m in messages if m.get("is_inbound")), None)
    inboxes = {str(i.get("id")) for i in _all(connector, f"/conversations/{cid}/inboxes")}
    owners = [str(t["id"]) for t in _teams(connector) if inboxes & {str(i.get("id")) for i in t.get("inboxes") or []}]
    team = owners[0] if owners else None
    times = [conversation.get("created_at") or 0] + [m.get("created_at") or 0 for m in messages]
    times += [c.get("posted_at") or 0 for c in comments]
    return {**conversation, "description": (first or {}).get("text") or (first or {}).get("blurb") or "",
            "updated_at": max(times), "team_id": team}


def _teams(connector: Connector) -> list[dict[str, Any]]:
    """The company's teams (read once per connector: they change rarely)."""
    cached = connector.values.get("_front_teams")
    if cached is None:
        cached = connector.values["_front_teams"] = _all(connector, "/teams")
    return list(cached)


def assign(connector: Connector, action: Action, args: Mapping[str, Any]) -> dict[str, Any]:
    """A teammate: ``PUT /conversations/{id}/assignee``; a team: the conversation moves to the team's
    (first) inbox, where its members pick it up (Front conversations belong to inboxes, not teams)."""
    summary: dict[str, Any] = {"action": action.kind.value, "ticket_id": action.ticket_id}
    if args.get("team_id"):
        team = next((t for t in _teams(connector) if str(t["id"]) == str(args["team_id"])), None)
        if team is None or not team.get("inboxes"):
            raise ValueError(f"front: team {args['team_id']!r} is unknown or has no inbox to move the conversation to")
        inbox = str(team["inboxes"][0]["id"])
        response = connector.http.request("PATCH", f"/conversations/{action.ticket_id}", json={"inbox_id": inbox})
        summary |= {"status_code": response.status_code, "team_id": str(team["id"]), "inbox_id": inbox}
    if args.get("user_id"):
        response = connector.http.request("PUT", f"/conversations/{action.ticket_id}/assignee",
                                          json={"assignee_id": str(args["user_id"])})
        summary |= {"status_code": response.status_code, "user_id": str(args["user_id"])}
    return summary


def list_comments(connector: Connector, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    cid = str(args["ticket_id"])
    rows = []
    for m in _all(connector, f"/conversations/{cid}/messages"):
        sender: Mapping[str, Any] = next((r for r in m.get("recipients") or [] if r.get("role") == "from"), {})
        author = _author(m) if not m.get("is_inbound") else sender.get("handle")
        rows.append({"id": m["id"], "body": m.get("text") or m.get("body") or "", "public": True,
                     "author_id": author, "created_at": m.get("created_at")})
    for c in _all(connector, f"/conversations/{cid}/comments"):
        rows.append({"id": c["id"], "body": c.get("body") or "", "public": False, "author_id": _author(c),
                     "created_at": c.get("posted_at")})
    return sorted(rows, key=lambda r: (r["created_at"] or 0, r["id"]))


def _channel(connector: Connector) -> str:
    if connector.values.get("channel_id"):
        return str(connector.values["channel_id"])
    channels = _all(connector, "/channels")
    custom = next((c for c in channels if c.get("type") == "custom"), None)
    if custom is None:
        raise BadResponse("front: no custom channel to create tickets through; connect with --channel-id cha_…")
    return str(custom["id"])


def _tag_ids(connector: Connector, names: list[str]) -> list[str]:
    known = {str(t["name"]).lower(): str(t["id"]) for t in _all(connector, "/tags")}
    ids = []
    for name in names:
        if name.lower() not in known:
            created = _json(connector, "POST", "/tags", json={"name": name})
            known[name.lower()] = str(created["id"])
        ids.append(known[name.lower()])
    return ids


def create_ticket(connector: Connector, args: Mapping[str, Any]) -> dict[str, Any]:
    """A customer's mail into the custom channel; the conversation it opened, with its tags and priority."""
    handle = args.get("requester_email") or connector.current_user().email or "customer@example.invalid"
    sender = {"handle": handle, **({"name": args["requester_name"]} if args.get("requester_name") else {})}
    accepted = _json(connector, "POST", f"/channels/{_channel(connector)}/incoming_messages",
                     json={"sender": sender, "subject": args["subject"], "body": args["body"]})
    cid = _conversation_of(_sent_message(connector, str(accepted["message_uid"])))
    patch: dict[str, Any] = {}
    if args.get("tags"):
        patch["tag_ids"] = _tag_ids(connector, [str(t) for t in args["tags"]])
    if args.get("priority"):
        patch["custom_fields"] = {"Priority": str(args["priority"])}
    if patch:
        connector.http.request("PATCH", f"/conversations/{cid}", json=patch)
    return get_conversation(connector, {"ticket_id": cid})


def text_to_html(text: str) -> str:
    """Plain text as a message's HTML body: escaped, blank-line paragraphs as ``<p>``, line breaks ``<br>``."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "".join(f"<p>{html.escape(p.strip()).replace(chr(10), '<br>')}</p>" for p in paragraphs)


def reply(connector: Connector, action: Action, args: Mapping[str, Any]) -> dict[str, Any]:
    """Send the message, hand its ``message_uid`` to ``action.on_accepted`` (recorded with the action)
    and wait for it; a retry of an accepted send (``action.accepted``) only waits for that message."""
    uid = str((action.accepted or {}).get("message_uid") or "")
    status_code = 202
    if not uid:
        text = str(args["body"])
        body: dict[str, Any] = {"body": text_to_html(text), "text": text}  # body is HTML; text the plain version
        if connector.values.get("teammate_id"):
            body["author_id"] = connector.values["teammate_id"]
        response = connector.http.request("POST", f"/conversations/{action.ticket_id}/messages", json=body)
        uid, status_code = str(response_json(response)["message_uid"]), response.status_code
        if action.on_accepted is not None:
            action.on_accepted({"message_uid": uid})
    message = _sent_message(connector, uid)
    return {"action": action.kind.value, "ticket_id": action.ticket_id, "status_code": status_code,
            "comment_id": message["id"], "message_uid": uid}


def _status_id(connector: Connector, status: str) -> str | None:
    chosen = (connector.values.get("status") or {}).get(status)
    if chosen:
        return str(chosen)
    try:
        statuses = _all(connector, "/company/statuses")
    except ProviderError as exc:  # ticketing is off: no ticket statuses
        if exc.status in (400, 403, 404):
            return None
        raise
    return next((str(s["id"]) for s in statuses if s.get("category") == CATEGORY.get(status)), None)


def set_status(connector: Connector, action: Action, args: Mapping[str, Any]) -> dict[str, Any]:
    status = str(args["status"])
    named = connector.values.get("status") or {}
    if status not in CATEGORY and status not in named:  # new/on_hold/closed: only a status the account names
        raise ValueError(f"front: status {status!r} is not one of {sorted({*CATEGORY, *named})} "
                         "(name the account's own with deskhand connect … --set status.<status>=sts_…)")
    sid = _status_id(connector, status)
    body = {"status_id": sid} if sid else {"status": "archived" if CATEGORY.get(status) == "resolved" else "open"}
    response = connector.http.request("PATCH", f"/conversations/{action.ticket_id}", json=body)
    return {"action": action.kind.value, "ticket_id": action.ticket_id, "status_code": response.status_code,
            "status": sid or body["status"]}


def add_tags(connector: Connector, action: Action, args: Mapping[str, Any]) -> dict[str, Any]:
    ids = _tag_ids(connector, [str(t) for t in args.get("tags") or []])
    response = connector.http.request("POST", f"/conversations/{action.ticket_id}/tags", json={"tag_ids": ids})
    return {"action": action.kind.value, "ticket_id": action.ticket_id, "status_code": response.status_code,
            "tag_ids": ids}


def api_teammate(connector: Connector, args: Mapping[str, Any]) -> dict[str, Any]:
    if connector.values.get("teammate_id"):
        return dict(_json(connector, "GET", f"/teammates/{connector.values['teammate_id']}"))
    company = _json(connector, "GET", "/me")
    return {"id": company.get("id"), "username": company.get("name"), "is_admin": True}


def changed_conversations(connector: Connector, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Conversations with events after ``args["query"]`` (an ISO time), oldest change first, each with
    ``updated_at`` = its newest event's time and ``deleted: true`` when trashed or spam. Pages are read
    until one gets past the feed's overlap window; later rows are left for the next page."""
    since = parse_timestamp(str(args["query"]), "iso8601")
    feed = connector.definition.sync.feed if connector.definition.sync else None
    past = (since + timedelta(seconds=feed.overlap_s if feed else 0.0)).timestamp()
    latest: dict[str, dict[str, Any]] = {}
    url: str | None = "/events"
    query: Mapping[str, Any] | None = {"q[after]": since.timestamp(), "sort_by": "created_at", "sort_order": "asc",
                                       "limit": EVENTS_PAGE}
    more = False
    last = 0.0
    while url:
        body = _json(connector, "GET", url, params=query)
        if not isinstance(body, Mapping) or not isinstance(body.get("_results"), list):
            raise BadResponse(f"front GET /events: no _results list in {str(body)[:200]}")
        for event in body["_results"]:
            conversation = event.get("conversation") or {}
            if not conversation.get("id"):
                continue
            last = float(event["emitted_at"])
            latest[conversation["id"]] = {**conversation, "updated_at": last,
                                          **({"deleted": True} if conversation.get("status") == "deleted" else {})}
        url, query = (body.get("_pagination") or {}).get("next"), None
        if url and last > past:
            more = True
            break
    rows = sorted(latest.values(), key=lambda r: (r["updated_at"], r["id"]))
    return [r for r in rows if r["updated_at"] <= last] if more else rows
