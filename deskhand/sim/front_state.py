"""The Front simulator's state: conversations, messages, comments, tags, teammates, teams, contacts,
channels, ticket statuses and the event log, as plain data with an injectable clock (FACTS.md §4).

- A conversation's ``_status`` is what ``PATCH`` sets (``open``/``archived``/``deleted``/``spam``);
  its answer shows ``status`` ``assigned``/``unassigned``/``archived``/``deleted`` (spam reads as
  ``deleted``: the public enum has no spam) and, with ticketing on, ``status_id`` +
  ``status_category`` (open/waiting/resolved). Archiving resolves; reopening opens.
- Messages sent through the API (replies, incoming messages) are accepted with a ``message_uid``
  and appear ``send_delay_s`` later (:meth:`FrontState.settle`, run on every request and by the
  app's ticker), the way Front's asynchronous sends do.
- Every change appends an event (``inbound``, ``outbound``, ``comment``, ``archive``, ``reopen``,
  ``trash``, ``tag``, ``untag``, ``assign``, ``unassign``, ``ticket_status_update``) and calls the
  listeners (the application webhooks).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from deskhand.sim.front_records import FrontError, bad_request, not_found

Clock = Callable[[], float]
Listener = Callable[[dict[str, Any]], None]
STATUS_CATEGORIES = ("open", "waiting", "resolved")


def _ids(prefix: str) -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"{prefix}_{next(counter):x}"


@dataclass
class FrontState:
    """Everything one Front company holds. Mutations take ``lock``; reads of records are copies."""

    clock: Clock = time.time
    company_id: str = "cmp_deskhand"
    ticketing: bool = True
    send_delay_s: float = 1.0
    lock: threading.RLock = field(default_factory=threading.RLock)
    teammates: dict[str, dict[str, Any]] = field(default_factory=dict)
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)
    inboxes: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    tags: dict[str, dict[str, Any]] = field(default_factory=dict)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    comments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    pending: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)  # API token -> the teammate it acts as
    listeners: list[Listener] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._next = {p: _ids(p) for p in ("cnv", "msg", "com", "tag", "tea", "tim", "crd", "cha", "inb", "evt")}
        self.admin = self.add_teammate("Ada", "Admin", "admin@acme.test", admin=True)
        self.bot = self.add_teammate("Deskhand", "API", "api@acme.test", kind="api")
        inbox = self.add_inbox("Support")
        self.channel = self.add_channel(inbox["id"], "support@acme.test")
        self.add_team("Support", [self.admin["id"]], [inbox["id"]])
        for n, category in enumerate(STATUS_CATEGORIES, 1):
            sid = f"sts_{n}"
            self.statuses[sid] = {"id": sid, "name": category.capitalize(), "category": category,
                                  "description": None, "created_at": self.clock(), "updated_at": self.clock()}

    # ------------------------------------------------------------------------------ directory

    def new_id(self, prefix: str) -> str:
        return self._next[prefix]()

    def add_teammate(self, first: str, last: str, email: str, *, admin: bool = False,
                     kind: str = "user") -> dict[str, Any]:
        tid = self.new_id("tea")
        self.teammates[tid] = {"id": tid, "email": email, "username": email.split("@")[0], "first_name": first,
                               "last_name": last, "is_admin": admin, "is_available": True, "is_blocked": False,
                               "type": kind, "license_type": "regular", "custom_fields": {}}
        return self.teammates[tid]

    def add_team(self, name: str, members: list[str], inboxes: list[str]) -> dict[str, Any]:
        tid = self.new_id("tim")
        self.teams[tid] = {"id": tid, "name": name, "member_ids": list(members), "inbox_ids": list(inboxes)}
        return self.teams[tid]

    def add_inbox(self, name: str) -> dict[str, Any]:
        iid = self.new_id("inb")
        self.inboxes[iid] = {"id": iid, "name": name, "is_private": False, "is_public": True, "custom_fields": {}}
        return self.inboxes[iid]

    def add_channel(self, inbox_id: str, address: str) -> dict[str, Any]:
        cid = self.new_id("cha")
        self.channels[cid] = {"id": cid, "name": address, "address": address, "type": "custom", "send_as": address,
                              "settings": {"undo_send_time": 0}, "is_private": False, "is_valid": True,
                              "_inbox_id": inbox_id}
        return self.channels[cid]

    def tag_named(self, name: str) -> dict[str, Any]:
        """The tag called ``name`` (created when new, as ``POST /tags`` does)."""
        with self.lock:
            for tag in self.tags.values():
                if tag["name"].lower() == name.lower():
                    return tag
            tid = self.new_id("tag")
            now = self.clock()
            self.tags[tid] = {"id": tid, "name": name, "description": None, "highlight": None, "is_private": False,
                              "is_visible_in_conversation_lists": True, "created_at": now, "updated_at": now}
            return self.tags[tid]

    def contact_for(self, handle: str, name: str | None) -> dict[str, Any]:
        with self.lock:
            for contact in self.contacts.values():
                if any(h["handle"] == handle for h in contact["handles"]):
                    return contact
            cid = self.new_id("crd")
            self.contacts[cid] = {"id": cid, "name": name or handle, "description": "", "avatar_url": None,
                                  "links": [], "lists": [], "handles": [{"handle": handle, "source": "custom"}],
                                  "custom_fields": {}, "is_private": False}
            return self.contacts[cid]

    def status_of_category(self, category: str) -> str:
        return next(s for s, v in self.statuses.items() if v["category"] == category)

    # ------------------------------------------------------------------------------ reading

    def conversation(self, cid: str) -> dict[str, Any]:
        found = self.conversations.get(cid)
        if found is None:
            raise not_found(f"Unknown conversation {cid}")
        return found

    def response_status(self, conv: dict[str, Any]) -> str:
        if conv["_status"] in ("deleted", "spam"):
            return "deleted"
        if conv["_status"] == "archived":
            return "archived"
        return "assigned" if conv["assignee_id"] else "unassigned"

    # ------------------------------------------------------------------------------ events

    def emit(self, kind: str, cid: str, target: tuple[str, str] | None = None, *, source: str = "api") -> None:
        """Record an event (at the clock's time) and tell the listeners (called with ``lock`` held)."""
        event = {"id": self.new_id("evt"), "type": kind, "emitted_at": self.clock(), "conversation_id": cid,
                 "target": target, "source": source}
        self.events.append(event)
        self.conversations[cid]["_updated"] = event["emitted_at"]
        for listener in list(self.listeners):
            listener(event)

    # ------------------------------------------------------------------------------ messages

    def accept_message(self, cid: str | None, body: dict[str, Any], *, inbound: bool, author_id: str | None,
                       channel_id: str | None = None) -> str:
        """Queue a message (a reply, or an incoming message when ``cid`` is None): its ``message_uid``."""
        uid = uuid.uuid4().hex
        with self.lock:
            if cid is not None:
                self.conversation(cid)
            self.pending.append((self.clock() + self.send_delay_s, uid,
                                 {"cid": cid, "body": body, "inbound": inbound, "author_id": author_id,
                                  "channel_id": channel_id}))
        self.settle()
        return uid

    def settle(self) -> None:
        """Deliver the accepted messages whose time has come (oldest first)."""
        with self.lock:
            now = self.clock()
            due = [p for p in self.pending if p[0] <= now]
            self.pending = [p for p in self.pending if p[0] > now]
            for _, uid, item in sorted(due, key=lambda p: p[0]):
                self._deliver(uid, item)

    def _deliver(self, uid: str, item: dict[str, Any]) -> None:
        body, cid = item["body"], item["cid"]
        if cid is None:  # an incoming message: a new conversation (or the sender's thread by thread_ref)
            sender = body["sender"]
            contact = self.contact_for(sender["handle"], sender.get("name"))
            ref = (body.get("metadata") or {}).get("thread_ref")
            cid = next((c for c, v in self.conversations.items() if ref and v["_thread_ref"] == ref), None)
            if cid is None:
                cid = self.open_conversation(body.get("subject") or "(no subject)", contact, item["channel_id"], ref)
        conv = self.conversations[cid]
        mid = self.new_id("msg")
        text = str(body.get("text") or body.get("body") or "")
        message = {"id": mid, "message_uid": uid, "type": "custom", "is_inbound": item["inbound"],
                   "created_at": self.clock(), "subject": body.get("subject") or conv["subject"],
                   "blurb": text[:100], "body": str(body.get("body") or ""), "text": text,
                   "author_id": None if item["inbound"] else item["author_id"],
                   "from": conv["_handle"] if item["inbound"] else self.channels[conv["_channel_id"]]["address"],
                   "to": self.channels[conv["_channel_id"]]["address"] if item["inbound"] else conv["_handle"],
                   "from_name": conv["_name"] if item["inbound"] else None, "attachments": [], "metadata": {}}
        self.messages[cid].append(message)
        if item["inbound"]:
            self.emit("inbound", cid, ("message", mid))
            if conv["_status"] == "archived":
                self._set_status(conv, "open", None)  # a customer's answer reopens the conversation
            elif conv["status_id"] and self.statuses[conv["status_id"]]["category"] == "waiting":
                self._set_status(conv, None, self.status_of_category("open"))
        else:
            self.emit("outbound" if len(self.messages[cid]) == 1 else "out_reply", cid, ("message", mid))
            options = body.get("options") or {}
            if options.get("tag_ids"):
                self.update(cid, {"tag_ids": sorted(set(conv["tag_ids"]) | set(options["tag_ids"]))})
            if options.get("archive"):
                self.update(cid, {"status": "archived"})

    def open_conversation(self, subject: str, contact: dict[str, Any], channel_id: str, ref: str | None) -> str:
        cid = self.new_id("cnv")
        handle = contact["handles"][0]["handle"]
        self.conversations[cid] = {
            "id": cid, "subject": subject, "_status": "open", "assignee_id": None, "tag_ids": [],
            "status_id": self.status_of_category("open") if self.ticketing else None,
            "inbox_id": self.channels[channel_id]["_inbox_id"], "_channel_id": channel_id, "_contact_id": contact["id"],
            "_handle": handle, "_name": contact["name"], "_thread_ref": ref, "created_at": self.clock(),
            "_updated": self.clock(), "ticket_ids": [f"TICKET-{len(self.conversations) + 1}"],
            "custom_fields": {}}
        self.messages[cid], self.comments[cid] = [], []
        return cid

    def comment(self, cid: str, body: dict[str, Any], author_id: str) -> dict[str, Any]:
        text = body.get("body")
        if not isinstance(text, str) or not text.strip():
            raise bad_request("body is required")
        with self.lock:
            self.conversation(cid)
            author = body.get("author_id") or author_id
            if author not in self.teammates:
                raise not_found(f"Unknown teammate {author}")
            com_id = self.new_id("com")
            com: dict[str, Any] = {"id": com_id, "author_id": author, "body": text, "posted_at": self.clock(),
                   "attachments": [], "is_pinned": bool(body.get("is_pinned", False))}
            self.comments[cid].append(com)
            self.emit("comment", cid, ("comment", com_id))
            return com

    # ------------------------------------------------------------------------------ updates

    def update(self, cid: str, body: dict[str, Any]) -> None:
        """``PATCH /conversations/{id}``: assignee, inbox, status or status_id, tag_ids (the whole set)."""
        if not isinstance(body, dict):
            raise bad_request("The body must be a JSON object")
        if "status" in body and "status_id" in body:
            raise bad_request("Only one of status and status_id can be provided")
        with self.lock:
            conv = self.conversation(cid)
            if "assignee_id" in body:
                self.assign(cid, body["assignee_id"])
            if "inbox_id" in body:
                if body["inbox_id"] not in self.inboxes:
                    raise not_found(f"Unknown inbox {body['inbox_id']}")
                conv["inbox_id"] = body["inbox_id"]
                self.emit("move", cid, ("inboxes", body["inbox_id"]))
            if "status" in body:
                if body["status"] not in ("archived", "open", "deleted", "spam"):
                    raise bad_request(f"status must be one of archived, open, deleted, spam (got {body['status']!r})")
                self._set_status(conv, body["status"], None)
            if "status_id" in body:
                if not self.ticketing:
                    raise bad_request("Ticketing is not enabled for this company: use status")
                if body["status_id"] not in self.statuses:
                    raise not_found(f"Unknown status {body['status_id']}")
                self._set_status(conv, None, body["status_id"])
            if "tag_ids" in body:
                self.set_tags(cid, body["tag_ids"])
            if "custom_fields" in body:  # the whole set, as Front says: send them all
                if not isinstance(body["custom_fields"], dict):
                    raise bad_request("custom_fields must be an object")
                conv["custom_fields"] = dict(body["custom_fields"])
                self.emit("custom_field_updated", cid)

    def _set_status(self, conv: dict[str, Any], status: str | None, status_id: str | None) -> None:
        before = conv["_status"]
        if status_id is not None:
            category = self.statuses[status_id]["category"]
            status = "archived" if category == "resolved" else "open"
            if before in ("deleted", "spam") and status == "open":
                status = before  # a ticket status does not restore a trashed conversation
        elif self.ticketing and status in ("archived", "open"):
            status_id = self.status_of_category("resolved" if status == "archived" else "open")
        assert status is not None
        conv["_status"] = status
        if status_id is not None and status_id != conv["status_id"]:
            conv["status_id"] = status_id
            self.emit("ticket_status_update", conv["id"])
        if status != before:
            kind = {"archived": "archive", "deleted": "trash", "spam": "trash"}.get(status)
            kind = kind or ("restore" if before in ("deleted", "spam") else "reopen")
            self.emit(kind, conv["id"])

    def assign(self, cid: str, teammate_id: str | None) -> None:
        with self.lock:
            conv = self.conversation(cid)
            if teammate_id is not None and teammate_id not in self.teammates:
                raise not_found(f"Unknown teammate {teammate_id}")
            if conv["assignee_id"] == teammate_id:
                return
            conv["assignee_id"] = teammate_id
            self.emit("assign" if teammate_id else "unassign", cid,
                      ("teammate", teammate_id) if teammate_id else None)

    def set_tags(self, cid: str, tag_ids: Any) -> None:
        if not isinstance(tag_ids, list) or not all(isinstance(t, str) for t in tag_ids):
            raise bad_request("tag_ids must be a list of tag ids")
        with self.lock:
            conv = self.conversation(cid)
            unknown = [t for t in tag_ids if t not in self.tags]
            if unknown:
                raise not_found(f"Unknown tag {unknown[0]}")
            before, after = set(conv["tag_ids"]), list(dict.fromkeys(tag_ids))
            conv["tag_ids"] = after
            for tag in after:
                if tag not in before:
                    self.emit("tag", cid, ("tag", tag))
            for tag in before - set(after):
                self.emit("untag", cid, ("tag", tag))

    def change_tags(self, cid: str, tag_ids: Any, add: bool) -> None:
        """``POST``/``DELETE /conversations/{id}/tags``: add or remove some, keeping the others."""
        if not isinstance(tag_ids, list):
            raise bad_request("tag_ids must be a list of tag ids")
        with self.lock:
            current = list(self.conversation(cid)["tag_ids"])
            if add:
                wanted = current + [t for t in tag_ids if t not in current]
            else:
                wanted = [t for t in current if t not in tag_ids]
            self.set_tags(cid, wanted)


__all__ = ["STATUS_CATEGORIES", "FrontError", "FrontState"]
