"""The Trello simulator's state: members, boards, lists, labels, cards and their actions, as plain data.

Ids are 24-hex ObjectIds whose first 8 hex digits are the creation time in seconds (FACTS.md §12:
py-trello pages a list's cards with ``before=<smallest id>``), from the injectable ``clock``. Every
change records an action (``createCard``, ``updateCard`` with ``data.old``, ``commentCard``,
``addLabelToCard``, ``addMemberToCard``, ``deleteCard`` …) as Trello does, and tells each listener
(the webhook dispatcher) about it. Errors are :class:`TrelloError` with Trello's plain-text bodies.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

Clock = Callable[[], float]
Listener = Callable[[dict[str, Any]], None]
COLORS = ("green", "yellow", "orange", "red", "purple", "blue", "sky", "lime", "pink", "black", None)


class TrelloError(Exception):
    """An API answer other than 200: Trello answers most errors as ``text/plain``."""

    def __init__(self, status: int, text: str, body: dict[str, Any] | None = None):
        super().__init__(text)
        self.status, self.text, self.body = status, text, body


def not_found(what: str = "The requested resource was not found.") -> TrelloError:
    return TrelloError(404, what)


def invalid(field: str) -> TrelloError:
    return TrelloError(400, f"invalid value for {field}")


class TrelloState:
    """Everything the simulator knows; guarded by ``lock`` (handlers run on several threads)."""

    def __init__(self, clock: Clock = time.time):
        self.clock = clock
        self.lock = threading.RLock()
        self._seq = itertools.count(0x1A2B3C)
        self.members: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, str] = {}  # token -> member id
        self.token_expires: dict[str, float] = {}  # token -> when it stops working (tokens of expiration=1day …)
        self.app_secrets: dict[str, str] = {}  # API key -> the application's (OAuth) secret: signs webhooks
        self.boards: dict[str, dict[str, Any]] = {}
        self.board_members: dict[str, list[str]] = {}
        self.member_types: dict[tuple[str, str], str] = {}  # (board, member) -> admin | normal | observer
        self.lists: dict[str, dict[str, Any]] = {}
        self.labels: dict[str, dict[str, Any]] = {}
        self.cards: dict[str, dict[str, Any]] = {}
        self.deleted: set[str] = set()
        self.actions: list[dict[str, Any]] = []  # oldest first
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.listeners: list[Listener] = []
        self._short = itertools.count(1)

    # ------------------------------------------------------------------------------ ids and time
    def new_id(self) -> str:
        return f"{int(self.clock()) & 0xFFFFFFFF:08x}{next(self._seq):016x}"

    def now(self) -> str:
        """Trello's dates: ISO 8601 UTC with milliseconds."""
        ts = self.clock()
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"

    # ------------------------------------------------------------------------------ directory
    def live_tokens(self) -> dict[str, str]:
        """The tokens that work now (token -> member id): none past its expiration."""
        now = self.clock()
        with self.lock:
            return {t: m for t, m in self.tokens.items() if self.token_expires.get(t, now + 1) > now}

    def add_member(self, full_name: str, username: str, token: str | None = None) -> dict[str, Any]:
        with self.lock:
            mid = self.new_id()
            initials = "".join(p[0] for p in full_name.split()[:2]).upper()
            self.members[mid] = {"id": mid, "fullName": full_name, "username": username, "initials": initials,
                                 "avatarUrl": None, "bio": "", "url": f"https://trello.com/{username}",
                                 "memberType": "normal", "confirmed": True, "status": "disconnected",
                                 "idBoards": []}
            if token:
                self.tokens[token] = mid
            return self.members[mid]

    def member(self, mid: str) -> dict[str, Any]:
        found = self.members.get(mid) or next((m for m in self.members.values() if m["username"] == mid), None)
        if found is None:
            raise not_found("model not found")
        return found

    def add_board(self, name: str, creator: str, desc: str = "") -> dict[str, Any]:
        with self.lock:
            bid = self.new_id()
            short = f"b{bid[-7:]}"
            self.boards[bid] = {"id": bid, "name": name, "desc": desc, "descData": None, "closed": False,
                                "idOrganization": None, "pinned": False, "url": f"https://trello.com/b/{short}/",
                                "shortUrl": f"https://trello.com/b/{short}", "shortLink": short,
                                "prefs": {"permissionLevel": "private", "comments": "members"},
                                "labelNames": {}, "dateLastActivity": self.now()}
            self.board_members[bid] = [creator]
            self.member_types[(bid, creator)] = "admin"
            self.members[creator]["idBoards"].append(bid)
            return self.boards[bid]

    def add_board_member(self, board_id: str, member_id: str, member_type: str = "normal") -> None:
        with self.lock:
            if member_id not in self.board_members[self.board(board_id)["id"]]:
                self.board_members[board_id].append(member_id)
                self.member_types[(board_id, member_id)] = member_type
                self.member(member_id)["idBoards"].append(board_id)

    def board(self, bid: str) -> dict[str, Any]:
        found = self.boards.get(bid) or next((b for b in self.boards.values() if b["shortLink"] == bid), None)
        if found is None:
            raise not_found("invalid id" if len(bid) != 24 else "The requested resource was not found.")
        return found

    def add_list(self, board_id: str, name: str, pos: Any = None) -> dict[str, Any]:
        with self.lock:
            board = self.board(board_id)
            if not isinstance(name, str) or not name.strip():
                raise invalid("name")
            lid = self.new_id()
            on_board = [lst for lst in self.lists.values() if lst["idBoard"] == board["id"]]
            position = float(str(pos)) if _numeric(pos) else (len(on_board) + 1) * 16384.0
            self.lists[lid] = {"id": lid, "name": name, "closed": False, "idBoard": board["id"], "pos": position,
                               "subscribed": False, "softLimit": None, "color": None}
            return self.lists[lid]

    def list_(self, lid: str) -> dict[str, Any]:
        if lid not in self.lists:
            raise not_found("invalid id" if len(lid) != 24 else "The requested resource was not found.")
        return self.lists[lid]

    def add_label(self, board_id: str, name: str, color: str | None) -> dict[str, Any]:
        with self.lock:
            board = self.board(board_id)
            if color not in COLORS:
                raise invalid("color")
            lid = self.new_id()
            self.labels[lid] = {"id": lid, "idBoard": board["id"], "name": name or "", "color": color, "uses": 0}
            return self.labels[lid]

    def label(self, lid: str) -> dict[str, Any]:
        if lid not in self.labels:
            raise not_found("The requested resource was not found.")
        return self.labels[lid]

    # ------------------------------------------------------------------------------ cards
    def card(self, cid: str) -> dict[str, Any]:
        found = self.cards.get(cid) or next((c for c in self.cards.values() if c["shortLink"] == cid), None)
        if found is None:
            raise not_found("The requested resource was not found." if len(cid) == 24 else "invalid id")
        return found

    def create_card(self, data: dict[str, Any], creator: str) -> dict[str, Any]:
        with self.lock:
            lst = self.list_(str(data.get("idList") or ""))
            name = data.get("name")
            name = "" if name in (None, "null") else str(name)
            cid = self.new_id()
            short = f"c{cid[-7:]}"
            number = next(self._short)
            on_list = [c for c in self.cards.values() if c["idList"] == lst["id"]]
            pos = data.get("pos")
            position = float(str(pos)) if _numeric(pos) else (
                min((c["pos"] for c in on_list), default=65536.0) / 2 if pos == "top"
                else max((c["pos"] for c in on_list), default=0.0) + 65536.0)
            card = {"id": cid, "name": name, "desc": _text(data.get("desc")), "descData": {"emoji": {}},
                    "closed": False, "dueComplete": False, "due": _nullable(data.get("due")),
                    "dueReminder": None, "start": None, "email": None, "idBoard": lst["idBoard"],
                    "idList": lst["id"], "idMembers": [], "idMembersVoted": [], "idLabels": [],
                    "idChecklists": [], "idAttachmentCover": None, "idShort": number, "shortLink": short,
                    "shortUrl": f"https://trello.com/c/{short}", "url": f"https://trello.com/c/{short}/{number}",
                    "pos": position, "subscribed": False, "manualCoverAttachment": False, "isTemplate": False,
                    "cardRole": None, "checkItemStates": [], "cover": {"idAttachment": None, "color": None},
                    "dateLastActivity": self.now(), "labels": [], "customFieldItems": []}
            for mid in _ids(data.get("idMembers")):
                self._check_member(card, mid)
                card["idMembers"].append(mid)
            for lid in _ids(data.get("idLabels")):
                self._check_label(card, lid)
                card["idLabels"].append(lid)
            self._relabel(card)
            self.cards[cid] = card  # only once every reference is valid
            self._act("createCard", creator, card, {"list": _ref(lst)})
            return card

    def update_card(self, cid: str, changes: dict[str, Any], actor: str) -> dict[str, Any]:
        """``PUT /cards/{id}`` (or one of its attribute forms): idList, closed, name, desc, due, pos,
        idMembers, idLabels; one ``updateCard`` action per change with ``data.old``."""
        with self.lock:
            card = self.card(cid)
            for key, raw in changes.items():
                if key == "idList":
                    target = self.list_(str(raw))
                    if target["idBoard"] != card["idBoard"]:
                        raise invalid("idList")
                    if target["id"] != card["idList"]:
                        before = self.lists[card["idList"]]
                        card["idList"] = target["id"]
                        self._act("updateCard", actor, card, {"old": {"idList": before["id"]},
                                                              "listBefore": _ref(before), "listAfter": _ref(target)})
                elif key == "closed":
                    closed = raw in (True, "true", "True", 1, "1")
                    if closed != card["closed"]:
                        card["closed"] = closed
                        self._act("updateCard", actor, card, {"old": {"closed": not closed}})
                elif key in ("name", "desc", "due", "pos"):
                    value: Any = _nullable(raw) if key == "due" else _text(raw)
                    if key == "pos":
                        value = float(raw) if _numeric(raw) else card["pos"]
                    if key == "name" and not value:
                        raise invalid("name")
                    if value != card[key]:
                        old, card[key] = card[key], value
                        self._act("updateCard", actor, card, {"old": {key: old}})
                elif key in ("idMembers", "idLabels"):
                    for gone in [i for i in card[key] if i not in _ids(raw)]:
                        self.remove_from(cid, key, gone, actor)
                    for new in [i for i in _ids(raw) if i not in card[key]]:
                        self.add_to(cid, key, new, actor)
            return card

    def add_to(self, cid: str, key: str, value: str, actor: str) -> list[str]:
        with self.lock:
            card = self.card(cid)
            if key == "idMembers":
                member = self._check_member(card, value)
                if value in card[key]:
                    raise TrelloError(400, "member is already on the card")
                card[key].append(value)
                self._act("addMemberToCard", actor, card, {"idMember": value}, member=member)
            else:
                label = self._check_label(card, value)
                if value in card[key]:
                    raise TrelloError(400, "that label is already on the card")
                card[key].append(value)
                self._relabel(card)
                self._act("addLabelToCard", actor, card, {"label": dict(label), "text": label["name"]})
            return list(card[key])

    def remove_from(self, cid: str, key: str, value: str, actor: str) -> list[str]:
        with self.lock:
            card = self.card(cid)
            if value not in card[key]:
                raise not_found("The requested resource was not found.")
            card[key].remove(value)
            if key == "idMembers":
                self._act("removeMemberFromCard", actor, card, {"idMember": value}, member=self.members.get(value))
            else:
                self._relabel(card)
                self._act("removeLabelFromCard", actor, card, {"label": dict(self.labels[value])})
            return list(card[key])

    def delete_card(self, cid: str, actor: str) -> None:
        with self.lock:
            card = self.cards.pop(self.card(cid)["id"])
            self.deleted.add(card["id"])
            self._act("deleteCard", actor, card, {"list": {"id": card["idList"]},
                                                  "card": {"id": card["id"], "idShort": card["idShort"],
                                                           "shortLink": card["shortLink"]}})

    # ------------------------------------------------------------------------------ comments
    def comment(self, cid: str, text: Any, actor: str) -> dict[str, Any]:
        with self.lock:
            card = self.card(cid)
            if not isinstance(text, str) or not text.strip():
                raise invalid("text")
            if len(text) > 16384:
                raise invalid("text")
            return self._act("commentCard", actor, card, {"text": text, "list": _ref(self.lists[card["idList"]])})

    def comments(self, cid: str) -> list[dict[str, Any]]:
        card = self.card(cid)
        return [a for a in self.actions if a["type"] == "commentCard" and a["data"]["card"]["id"] == card["id"]]

    def edit_comment(self, action_id: str, text: Any, actor: str) -> dict[str, Any]:
        with self.lock:
            action = self.action(action_id)
            if action["type"] != "commentCard" or action["idMemberCreator"] != actor:
                raise TrelloError(401, "unauthorized comment permission requested")
            if not isinstance(text, str) or not text.strip():
                raise invalid("text")
            action["data"]["text"] = text
            action["data"]["dateLastEdited"] = self.now()
            return action

    def delete_comment(self, action_id: str, actor: str) -> None:
        with self.lock:
            action = self.action(action_id)
            if action["type"] != "commentCard" or action["idMemberCreator"] != actor:
                raise TrelloError(401, "unauthorized comment permission requested")
            self.actions.remove(action)
            self._bump(self.cards[action["data"]["card"]["id"]])

    def action(self, action_id: str) -> dict[str, Any]:
        found = next((a for a in self.actions if a["id"] == action_id), None)
        if found is None:
            raise not_found("The requested resource was not found.")
        return found

    # ------------------------------------------------------------------------------ internals
    def badges(self, card: dict[str, Any]) -> dict[str, Any]:
        count = sum(1 for a in self.actions if a["type"] == "commentCard" and a["data"]["card"]["id"] == card["id"])
        return {"attachmentsByType": {"trello": {"board": 0, "card": 0}}, "location": False, "votes": 0,
                "viewingMemberVoted": False, "subscribed": False, "fogbugz": "", "checkItems": 0,
                "checkItemsChecked": 0, "checkItemsEarliestDue": None, "comments": count, "attachments": 0,
                "description": bool(card["desc"]), "due": card["due"], "dueComplete": card["dueComplete"],
                "start": None}

    def _check_member(self, card: dict[str, Any], mid: str) -> dict[str, Any]:
        if mid not in self.board_members[card["idBoard"]]:
            raise invalid("idMembers")
        return self.members[mid]

    def _check_label(self, card: dict[str, Any], lid: str) -> dict[str, Any]:
        label = self.labels.get(lid)
        if label is None or label["idBoard"] != card["idBoard"]:
            raise invalid("idLabels")
        return label

    def _relabel(self, card: dict[str, Any]) -> None:
        card["labels"] = [dict(self.labels[i]) for i in card["idLabels"]]

    def _bump(self, card: dict[str, Any]) -> None:
        card["dateLastActivity"] = self.now()
        self.boards[card["idBoard"]]["dateLastActivity"] = card["dateLastActivity"]

    def _act(self, kind: str, actor: str, card: dict[str, Any], data: dict[str, Any],
             member: dict[str, Any] | None = None) -> dict[str, Any]:
        board = self.boards[card["idBoard"]]
        creator = self.members[actor]
        payload = {"card": {"id": card["id"], "name": card["name"], "idShort": card["idShort"],
                            "shortLink": card["shortLink"], "idList": card["idList"], "closed": card["closed"]},
                   "board": {"id": board["id"], "name": board["name"], "shortLink": board["shortLink"]}, **data}
        if "old" in data:
            payload["card"] |= {k: card[k] for k in data["old"]}
        action = {"id": self.new_id(), "idMemberCreator": actor, "type": kind, "date": self.now(), "data": payload,
                  "appCreator": None, "limits": {},
                  "memberCreator": {k: creator[k] for k in ("id", "fullName", "username", "initials", "avatarUrl")}}
        if member is not None:
            action["member"] = {k: member[k] for k in ("id", "fullName", "username", "initials")}
        self.actions.append(action)
        if kind != "deleteCard":
            self._bump(card)
        for listener in list(self.listeners):
            listener(action)
        return action


def _numeric(value: Any) -> bool:
    try:
        return value is not None and not isinstance(value, bool) and float(value) >= 0
    except (TypeError, ValueError):
        return False


def _text(value: Any) -> str:
    return "" if value in (None, "null") else str(value)


def _nullable(value: Any) -> Any:
    return None if value in (None, "", "null") else value


def _ids(value: Any) -> list[str]:
    """``idMembers``/``idLabels`` as Trello takes them: a list or a comma-separated string
    (py-trello sends ``""`` for none)."""
    if value in (None, "", "null"):
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(i).strip() for i in items if str(i).strip()]


def _ref(lst: dict[str, Any]) -> dict[str, Any]:
    return {"id": lst["id"], "name": lst["name"]}
