"""What the Trello definition (defs/trello.yaml) can't say as data.

- ``create_ticket``: a card on the account's ``list.new`` list (else the board's first open list),
  its tags as the board's labels by name (created when missing), its priority as a label;
- ``add_tags`` / ``set_priority``: labels by name, found or created on the board, then added to the
  card (``POST /cards/{id}/idLabels``); a priority is the one label named ``priority: <level>``;
- ``set_status``: ``PUT /cards/{id}`` with the list the account maps the status to; ``closed`` archives
  the card (``closed: true``) and any other status un-archives it;
- ``card_comments``: a card's ``commentCard`` actions oldest first (Trello answers newest first);
- ``changed_cards``: the sync feed (the board's cards active since a time, and deleteCard tombstones);
- field hooks ``priority_of``, ``tags_of`` (labels) and ``created_at`` (the time in a card's ObjectId).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from deskhand.errors import BadResponse, ConfigError
from deskhand.model import Action
from deskhand.providers.connector import Connector, response_json
from deskhand.timestamps import parse_timestamp

PRIORITY_PREFIX = "priority: "
PRIORITIES = ("urgent", "high", "normal", "low")


def _json(connector: Connector, method: str, path: str, **kw: Any) -> Any:
    return response_json(connector.http.request(method, path, **kw))


def _name(label: Mapping[str, Any]) -> str:
    return str(label.get("name") or label.get("color") or label.get("id"))


def priority_of(labels: Any) -> str | None:
    names = {_name(lb).lower() for lb in labels or [] if isinstance(lb, Mapping)}
    return next((p for p in PRIORITIES if PRIORITY_PREFIX + p in names), None)


def tags_of(labels: Any) -> list[str]:
    return [_name(lb) for lb in labels or [] if isinstance(lb, Mapping)
            and not _name(lb).lower().startswith(PRIORITY_PREFIX)]


def created_at(card_id: Any) -> str | None:
    """A card's creation time: the first 8 hex digits of its ObjectId are unix seconds."""
    text = str(card_id or "")
    if len(text) != 24:
        return None
    try:
        return datetime.fromtimestamp(int(text[:8], 16), UTC).isoformat()
    except ValueError:
        return None


def _labels(connector: Connector, names: list[str]) -> list[str]:
    """Ids of the board's labels with these names (case-insensitive), creating the missing ones."""
    board = connector.values["board"]
    found = _json(connector, "GET", f"/boards/{board}/labels", params={"limit": 1000})
    if not isinstance(found, list):
        raise BadResponse(f"trello GET /boards/{board}/labels: not a list: {str(found)[:200]}")
    by_name = {_name(lb).lower(): lb["id"] for lb in found if isinstance(lb, Mapping)}
    ids = []
    for name in names:
        if name.lower() not in by_name:
            made = _json(connector, "POST", "/labels", json={"name": name, "color": None, "idBoard": board})
            by_name[name.lower()] = made["id"]
        ids.append(by_name[name.lower()])
    return ids


def _list_for(connector: Connector, status: str) -> str:
    mapped = (connector.values.get("list") or {}).get(status)
    if mapped:
        return str(mapped)
    raise ConfigError(f"trello account {connector.account!r} maps no list to status {status!r}: "
                      f"deskhand connect trello … --set list.{status}=<list id> "
                      f"(the ids: GET /1/boards/{connector.values['board']}/lists)")


def create_ticket(connector: Connector, args: Mapping[str, Any]) -> Any:
    """``POST /cards`` on the ``new`` list (else the board's first open list) with its labels."""
    board = connector.values["board"]
    target = (connector.values.get("list") or {}).get("new")
    if not target:
        lists = _json(connector, "GET", f"/boards/{board}/lists", params={"filter": "open"})
        if not isinstance(lists, list) or not lists:
            raise ConfigError(f"trello board {board} has no open list to put a card on")
        target = lists[0]["id"]
    names = [str(t) for t in args.get("tags") or []]
    if args.get("priority"):
        names.append(PRIORITY_PREFIX + str(args["priority"]))
    body = {"idList": target, "name": args["subject"], "desc": args.get("body") or "", "pos": "bottom",
            "idLabels": ",".join(_labels(connector, names)) if names else None}
    return _json(connector, "POST", "/cards", json={k: v for k, v in body.items() if v is not None})


def _summary(action: Action, response_card: Any, **extra: Any) -> dict[str, Any]:
    return {"action": action.kind.value, "ticket_id": action.ticket_id, **extra}


def add_tags(connector: Connector, action: Action, args: Mapping[str, Any]) -> dict[str, Any]:
    card_id = str(args["ticket_id"])
    card = _json(connector, "GET", f"/cards/{card_id}")
    have = set(card.get("idLabels") or []) if isinstance(card, Mapping) else set()
    for label in _labels(connector, [str(t) for t in args.get("tags") or []]):
        if label not in have:
            _json(connector, "POST", f"/cards/{card_id}/idLabels", json={"value": label})
            have.add(label)
    return _summary(action, card, tags=list(args.get("tags") or []))


def set_priority(connector: Connector, action: Action, args: Mapping[str, Any]) -> dict[str, Any]:
    card_id, priority = str(args["ticket_id"]), str(args["priority"])
    if priority not in PRIORITIES:
        raise ValueError(f"trello: priority {priority!r} is not one of {list(PRIORITIES)}")
    card = _json(connector, "GET", f"/cards/{card_id}")
    wanted = _labels(connector, [PRIORITY_PREFIX + priority])[0]
    for label in card.get("labels") or []:
        if _name(label).lower().startswith(PRIORITY_PREFIX) and label["id"] != wanted:
            connector.http.request("DELETE", f"/cards/{card_id}/idLabels/{label['id']}")
    if wanted not in (card.get("idLabels") or []):
        _json(connector, "POST", f"/cards/{card_id}/idLabels", json={"value": wanted})
    return _summary(action, card, priority=priority)


def set_status(connector: Connector, action: Action, args: Mapping[str, Any]) -> dict[str, Any]:
    """Move the card to the status's list; ``closed`` archives it (and moves it when a list is mapped)."""
    card_id, status = str(args["ticket_id"]), str(args["status"])
    keys = ("new", "open", "pending", "on_hold", "solved", "closed")
    if status not in keys:
        raise ValueError(f"trello: status {status!r} is not one of {sorted(keys)}")
    mapped = (connector.values.get("list") or {}).get(status)
    if status == "closed":
        body: dict[str, Any] = {"closed": True, **({"idList": mapped} if mapped else {})}
    else:
        body = {"idList": _list_for(connector, status), "closed": False}
    card = _json(connector, "PUT", f"/cards/{card_id}", json=body)
    return _summary(action, card, status="closed" if card.get("closed") else card.get("idList"))


def card_comments(connector: Connector, args: Mapping[str, Any]) -> list[Any]:
    found = _json(connector, "GET", f"/cards/{args['ticket_id']}/actions",
                  params={"filter": "commentCard", "limit": 1000})
    if not isinstance(found, list):
        raise BadResponse(f"trello GET /cards/{args['ticket_id']}/actions: not a list: {str(found)[:200]}")
    return sorted(found, key=lambda a: (str(a.get("date")), str(a.get("id"))))


FEED_PAGE = 1000


def _board_cards(connector: Connector) -> list[dict[str, Any]]:
    """Every card of the board, archived ones too, paged newest first with ``limit``/``before``."""
    board, rows, before = connector.values["board"], [], None
    while True:
        params: dict[str, Any] = {"filter": "all", "actions": "createCard", "limit": FEED_PAGE,
                                  **({"before": before} if before else {})}
        page = _json(connector, "GET", f"/boards/{board}/cards", params=params)
        if not isinstance(page, list):
            raise BadResponse(f"trello GET /boards/{board}/cards: not a list: {str(page)[:200]}")
        rows += page
        if len(page) < FEED_PAGE:
            return rows
        before = min(str(c["id"]) for c in page)


def _deleted_cards(connector: Connector, since: str) -> list[dict[str, Any]]:
    """Cards deleted since ``since`` (``deleteCard`` actions, paged back with ``before``), as tombstones."""
    board, rows, before = connector.values["board"], [], None
    while True:
        params: dict[str, Any] = {"filter": "deleteCard", "since": since, "limit": FEED_PAGE,
                                  **({"before": before} if before else {})}
        page = _json(connector, "GET", f"/boards/{board}/actions", params=params)
        if not isinstance(page, list):
            raise BadResponse(f"trello GET /boards/{board}/actions: not a list: {str(page)[:200]}")
        for action in page:
            card = (action.get("data") or {}).get("card") or {}
            if card.get("id"):
                rows.append({"id": card["id"], "name": card.get("name") or "", "desc": "", "closed": True,
                             "idList": ((action.get("data") or {}).get("list") or {}).get("id"), "labels": [],
                             "idMembers": [], "dateLastActivity": action.get("date"), "deleted": True})
        if len(page) < FEED_PAGE:
            return rows
        before = page[-1]["id"]


def changed_cards(connector: Connector, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The sync feed's page: the board's cards active since ``args["since"]`` (archived ones read as
    closed) and the cards deleted since then as tombstones, oldest first. Trello has no query on a
    card's activity time: the board's cards are listed (100-card pages cost one request each)."""
    since = str(args["since"])
    start = parse_timestamp(since)
    live = [c for c in _board_cards(connector)
            if c.get("dateLastActivity") and parse_timestamp(c["dateLastActivity"]) >= start]
    rows = live + _deleted_cards(connector, since)
    return sorted(rows, key=lambda r: (str(r["dateLastActivity"]), str(r["id"])))
