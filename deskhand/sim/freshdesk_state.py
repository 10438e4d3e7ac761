"""In-memory state of the Freshdesk simulator: tickets and their conversations over a :class:`Directory`.

Tickets are stored in Freshdesk's JSON shape plus private ``_`` keys (``_created``/``_updated`` Unix
seconds, ``_deleted``, ``_stats``). Rules follow FACTS.md §6: ``PUT`` with ``tags`` replaces the whole
set; ``DELETE`` marks a ticket ``deleted`` (shown with ``deleted: true``, listed only by
``filter=deleted``, restorable); a reply by a contact is incoming and reopens a pending, resolved or
closed ticket; notes are private unless ``private: false``. Each change is passed as a
:class:`Change` to every listener (the automation rules that trigger webhooks). One lock guards all.
"""

from __future__ import annotations

import copy
import itertools
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from deskhand.sim.base import iso_utc
from deskhand.sim.freshdesk_directory import Directory
from deskhand.sim.freshdesk_records import (
    NOTE,
    NOTE_FIELDS,
    PRIORITIES,
    REPLY,
    REPLY_FIELDS,
    SOURCES,
    STATUSES,
    TICKET_CREATE_FIELDS,
    TICKET_UPDATE_FIELDS,
    boolean,
    check_fields,
    html_to_text,
    integer,
    not_found,
    string,
    tags,
    text_to_html,
    ticket_type,
    validation,
)

RECENT_S = 30 * 86400  # the default ticket list shows tickets created in the past 30 days
SORTS = ("created_at", "due_by", "updated_at", "status")


@dataclass
class Change:
    """One ticket change as automation rules see it.

    ``action`` is ``created`` or ``updated``; ``performer`` ``agent``, ``requester`` or ``system``;
    ``events`` maps what happened (``status``, ``priority``, ``type``, ``group_id``, ``responder_id``
    → ``(before, after)``; ``reply_sent``/``note_added`` → the conversation; ``deleted`` → True).
    """

    ticket: dict[str, Any]
    action: str
    performer: str
    actor_id: int
    events: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[Change], None]


RATING_SCALE = (103, 102, 101, 100, -101, -102, -103)  # the default (classic) survey's answers
SURVEY_ID = 60_000_012_345


def parse_time(value: str, name: str = "updated_since") -> float:
    """ISO 8601 (``2026-01-01T00:00:00Z``, with offset, or a date) → Unix seconds; 400 otherwise."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise validation((name, "It should be in the 'valid date time' format", "invalid_value")) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


class FreshdeskState:
    """A whole Freshdesk helpdesk in memory (thread-safe). See the module docstring."""

    def __init__(self, *, admin_email: str = "admin@deskhand.test", domain: str = "sim.freshdesk.com",
                 clock: Callable[[], float] = time.time):
        self.clock = clock
        self.domain = domain
        self.lock = threading.RLock()
        self.people = Directory(clock, admin_email)
        self.tickets: dict[int, dict[str, Any]] = {}
        self.conversations: dict[int, list[dict[str, Any]]] = {}
        self.api_keys: dict[str, int] = {}  # API key -> the agent it belongs to
        self.ratings: dict[int, list[dict[str, Any]]] = {}  # ticket id -> its satisfaction survey results
        self._rating_ids = itertools.count(5_000_000_001)
        self.listeners: list[Listener] = []
        self.changes: list[Change] = []
        self._ticket_ids = itertools.count(1)
        self._conversation_ids = itertools.count(43_145_000_001, 7)

    @property
    def admin(self) -> dict[str, Any]:
        return self.people.admin

    # -------------------------------------------------------------------------------- tickets

    def _ticket(self, ticket_id: int, *, deleted_ok: bool = False) -> dict[str, Any]:
        ticket = self.tickets.get(ticket_id)
        if ticket is None or (ticket["_deleted"] and not deleted_ok):
            raise not_found()
        return ticket

    def get_ticket(self, ticket_id: int) -> dict[str, Any]:
        """A copy of the ticket, deleted ones included (``GET /tickets/{id}`` shows them)."""
        with self.lock:
            return copy.deepcopy(self._ticket(ticket_id, deleted_ok=True))

    def _validate(self, data: dict[str, Any]) -> dict[str, Any]:
        """The typed, checked values of a create/update body (only the keys present)."""
        out: dict[str, Any] = {}
        for name, choices in (("status", STATUSES), ("priority", PRIORITIES), ("source", SOURCES)):
            if name in data:
                out[name] = integer(data, name, choices)
        for name in ("responder_id", "group_id", "company_id", "product_id", "email_config_id"):
            if name in data:
                out[name] = integer(data, name)
        if "type" in data:
            out["type"] = ticket_type(data)
        for name in ("subject", "description"):
            if name in data:
                out[name] = string(data, name)
        if "tags" in data:
            out["tags"] = tags(data) or []
        if "custom_fields" in data:
            if not isinstance(data["custom_fields"], dict):
                raise validation(("custom_fields", "It should be a/an key/value pair", "datatype_mismatch"))
            out["custom_fields"] = dict(data["custom_fields"])
        if out.get("responder_id") is not None and out["responder_id"] not in self.people.agents:
            raise validation(("responder_id", "There is no agent matching the given responder_id", "invalid_value"))
        if out.get("group_id") is not None and out["group_id"] not in self.people.groups:
            raise validation(("group_id", "There is no group matching the given group_id", "invalid_value"))
        if out.get("company_id") is not None and out["company_id"] not in self.people.companies:
            raise validation(("company_id", "There is no company matching the given company_id", "invalid_value"))
        for name in ("status", "priority", "source"):
            if name in out and out[name] is None:
                raise validation((name, "It should be a/an Integer", "datatype_mismatch"))
        return out

    def create_ticket(self, data: Any, actor_id: int | None = None, *, at: float | None = None,
                      notify: bool = True) -> dict[str, Any]:
        """``POST /tickets``: 400 on a bad body; unknown requester emails become contacts."""
        data = check_fields(data, TICKET_CREATE_FIELDS)
        with self.lock:
            values = self._validate(data)
            if not (values.get("subject") or "").strip():
                raise validation(("subject", "It should be a/an String", "missing_field"))
            if not (values.get("description") or "").strip():
                raise validation(("description", "It should be a/an String", "missing_field"))
            requester_id = self.people.requester_for(data)
            now = self.clock() if at is None else at
            stamp, tid = iso_utc(now), next(self._ticket_ids)
            description = text_to_html(values["description"])
            contact = self.people.contacts.get(requester_id)
            priority = values.get("priority") or 1
            ticket: dict[str, Any] = {
                "cc_emails": list(data.get("cc_emails") or []), "fwd_emails": [], "reply_cc_emails": [],
                "ticket_cc_emails": [], "ticket_bcc_emails": [], "fr_escalated": False, "spam": False,
                "email_config_id": None,
                "group_id": values.get("group_id"), "priority": priority, "requester_id": requester_id,
                "responder_id": values.get("responder_id"), "source": values.get("source") or 2,
                "company_id": values.get("company_id") or (contact or {}).get("company_id"),
                "status": values.get("status") or 2, "subject": values["subject"], "association_type": None,
                "support_email": None, "to_emails": None, "product_id": None, "id": tid,
                "type": values.get("type"), "due_by": iso_utc(now + 86400 * (5 - priority)),
                "fr_due_by": iso_utc(now + 3600 * 6 * (5 - priority)), "is_escalated": False,
                "description": description, "description_text": html_to_text(description),
                "custom_fields": values.get("custom_fields") or {}, "created_at": stamp, "updated_at": stamp,
                "associated_tickets_count": None, "tags": values.get("tags") or [], "attachments": [],
                "form_id": 43_000_114_001, "nr_due_by": None, "nr_escalated": False,
                "source_additional_info": None, "structured_description": None,
                "_created": now, "_updated": now, "_deleted": False,
                "_stats": {"agent_responded_at": None, "requester_responded_at": None, "first_responded_at": None,
                           "status_updated_at": stamp, "reopened_at": None, "resolved_at": None,
                           "closed_at": None, "pending_since": None},
            }
            self._status_stats(ticket, ticket["status"], stamp)
            self.tickets[tid], self.conversations[tid] = ticket, []
            if notify:
                actor = self.admin["id"] if actor_id is None else actor_id
                self._emit(ticket, "created", actor, {})
            return copy.deepcopy(ticket)

    @staticmethod
    def _status_stats(ticket: dict[str, Any], status: int, stamp: str) -> None:
        stats = ticket["_stats"]
        stats["status_updated_at"] = stamp
        stats["pending_since"] = stamp if status == 3 else None
        if status == 4:
            stats["resolved_at"] = stamp
        if status == 5:
            stats["closed_at"] = stamp

    def update_ticket(self, ticket_id: int, data: Any, actor_id: int | None = None, *, at: float | None = None,
                      notify: bool = True) -> dict[str, Any]:
        """``PUT /tickets/{id}``: the given fields replace the old ones (``tags`` the whole set)."""
        data = check_fields(data, TICKET_UPDATE_FIELDS)
        with self.lock:
            ticket = self._ticket(ticket_id)
            values = self._validate(data)
            if any(k in data for k in ("requester_id", "email", "phone")):
                values["requester_id"] = self.people.requester_for(data)
            if "description" in values:
                values["description"] = text_to_html(values["description"] or "")
                values["description_text"] = html_to_text(values["description"])
            now = self.clock() if at is None else at
            stamp = iso_utc(now)
            events: dict[str, Any] = {}
            for key, value in values.items():
                if ticket.get(key) != value:
                    if key in ("status", "priority", "type", "group_id", "responder_id", "tags"):
                        events[key] = (copy.deepcopy(ticket.get(key)), copy.deepcopy(value))
                    ticket[key] = value
            if "status" in events:
                before = events["status"][0]
                if before in (4, 5) and ticket["status"] in (2, 3):
                    ticket["_stats"]["reopened_at"] = stamp
                self._status_stats(ticket, ticket["status"], stamp)
            ticket["_updated"], ticket["updated_at"] = now, stamp
            if notify:
                actor = self.admin["id"] if actor_id is None else actor_id
                self._emit(ticket, "updated", actor, events)
            return copy.deepcopy(ticket)

    def delete_ticket(self, ticket_id: int, actor_id: int | None = None) -> None:
        """``DELETE /tickets/{id}``: into the deleted view (restorable)."""
        with self.lock:
            ticket = self._ticket(ticket_id)
            now = self.clock()
            ticket.update(_deleted=True, _updated=now, updated_at=iso_utc(now))
            self._emit(ticket, "updated", self.admin["id"] if actor_id is None else actor_id, {"deleted": True})

    def restore_ticket(self, ticket_id: int) -> None:
        """``PUT /tickets/{id}/restore``."""
        with self.lock:
            ticket = self._ticket(ticket_id, deleted_ok=True)
            if not ticket["_deleted"]:
                raise not_found()
            now = self.clock()
            ticket.update(_deleted=False, _updated=now, updated_at=iso_utc(now))

    # -------------------------------------------------------------------------- conversations

    def reply(self, ticket_id: int, data: Any, actor_id: int | None = None, *, at: float | None = None,
              notify: bool = True) -> dict[str, Any]:
        """``POST /tickets/{id}/reply``: public; by a contact (``user_id``) it is incoming and reopens."""
        data = check_fields(data, REPLY_FIELDS)
        with self.lock:
            ticket = self._ticket(ticket_id)
            user_id = integer(data, "user_id") or (self.admin["id"] if actor_id is None else actor_id)
            incoming = user_id not in self.people.agents
            conv = self._conversation(ticket, data, user_id, source=REPLY, private=False, incoming=incoming, at=at)
            if not incoming:
                conv["to_emails"] = [e for e in [self.people.email_of(ticket["requester_id"])] if e]
                conv["from_email"] = data.get("from_email") or f"support@{self.domain}"
            conv["cc_emails"] = list(data.get("cc_emails") or [])
            conv["bcc_emails"] = list(data.get("bcc_emails") or [])
            return self._conversation_added(ticket, conv, "reply_sent", notify)

    def note(self, ticket_id: int, data: Any, actor_id: int | None = None, *, at: float | None = None,
             notify: bool = True) -> dict[str, Any]:
        """``POST /tickets/{id}/notes``: private unless ``private: false``."""
        data = check_fields(data, NOTE_FIELDS)
        with self.lock:
            ticket = self._ticket(ticket_id)
            user_id = integer(data, "user_id") or (self.admin["id"] if actor_id is None else actor_id)
            conv = self._conversation(ticket, data, user_id, source=NOTE, private=boolean(data, "private", True),
                                      incoming=boolean(data, "incoming", False), at=at)
            conv["notified_to"] = list(data.get("notify_emails") or [])
            return self._conversation_added(ticket, conv, "note_added", notify)

    def _conversation(self, ticket: dict[str, Any], data: dict[str, Any], user_id: int, *, source: int,
                      private: bool, incoming: bool, at: float | None) -> dict[str, Any]:
        body = string(data, "body", required=True) or ""
        if not body.strip():
            raise validation(("body", "It should not be blank as this is a mandatory field", "invalid_value"))
        if user_id not in self.people.agents and user_id not in self.people.contacts:
            raise validation(("user_id", "There is no contact or agent matching the given user_id", "invalid_value"))
        now = self.clock() if at is None else at
        markup = text_to_html(body)
        return {"body": markup, "body_text": html_to_text(markup), "id": next(self._conversation_ids),
                "incoming": incoming, "private": private, "user_id": user_id, "support_email": None,
                "source": source, "category": 2 if source == NOTE else 3, "to_emails": [],
                "from_email": self.people.email_of(user_id) if incoming else None, "cc_emails": [],
                "bcc_emails": None, "email_failure_count": None, "outgoing_failures": None,
                "thread_id": None, "thread_message_id": None, "created_at": iso_utc(now),
                "updated_at": iso_utc(now), "last_edited_at": None, "last_edited_user_id": None,
                "attachments": [], "automation_id": None, "automation_type_id": None, "auto_response": False,
                "ticket_id": ticket["id"], "source_additional_info": None, "_created": now}

    def _conversation_added(self, ticket: dict[str, Any], conv: dict[str, Any], event: str,
                            notify: bool) -> dict[str, Any]:
        self.conversations[ticket["id"]].append(conv)
        stamp, stats = conv["created_at"], ticket["_stats"]
        events: dict[str, Any] = {event: copy.deepcopy(conv)}
        if conv["incoming"]:
            stats["requester_responded_at"] = stamp
            if ticket["status"] in (3, 4, 5):
                events["status"] = (ticket["status"], 2)
                if ticket["status"] in (4, 5):
                    stats["reopened_at"] = stamp
                ticket["status"] = 2
                self._status_stats(ticket, 2, stamp)
        elif event == "reply_sent":
            stats["agent_responded_at"] = stamp
            stats["first_responded_at"] = stats["first_responded_at"] or stamp
        ticket["_updated"], ticket["updated_at"] = conv["_created"], stamp
        if notify:
            self._emit(ticket, "updated", conv["user_id"], events)
        return copy.deepcopy(conv)

    def list_conversations(self, ticket_id: int) -> list[dict[str, Any]]:
        with self.lock:
            self._ticket(ticket_id)
            return copy.deepcopy(self.conversations[ticket_id])

    # ---------------------------------------------------------------------- satisfaction ratings

    def rate(self, ticket_id: int, data: Any, *, at: float | None = None) -> dict[str, Any]:
        """``POST /tickets/{id}/satisfaction_ratings``: the requester's survey result on the default
        question (103 extremely happy … 100 neutral … -103 extremely unhappy); a ticket keeps them all."""
        data = check_fields(data, ("ratings", "feedback"))
        ratings = data.get("ratings")
        if not isinstance(ratings, dict) or ratings.get("default_question") not in RATING_SCALE:
            allowed = ",".join(map(str, RATING_SCALE))
            raise validation(("default_question", f"It should be one of these values: '{allowed}'", "invalid_value"))
        with self.lock:
            ticket = self._ticket(ticket_id)
            stamp = iso_utc(self.clock() if at is None else at)
            rating = {"id": next(self._rating_ids), "survey_id": SURVEY_ID, "user_id": ticket["requester_id"],
                      "agent_id": ticket["responder_id"], "feedback": data.get("feedback"),
                      "group_id": ticket["group_id"], "ticket_id": ticket_id,
                      "ratings": {"default_question": ratings["default_question"]},
                      "created_at": stamp, "updated_at": stamp}
            self.ratings.setdefault(ticket_id, []).append(rating)
            return copy.deepcopy(rating)

    def list_ratings(self, ticket_id: int | None = None, *, created_since: float | None = None) -> list[dict[str, Any]]:
        """A ticket's ratings (``GET /tickets/{id}/satisfaction_ratings``) or every ticket's
        (``GET /surveys/satisfaction_ratings``, only those since `created_since`), oldest first."""
        with self.lock:
            if ticket_id is not None:
                self._ticket(ticket_id)
            found = self.ratings.get(ticket_id, []) if ticket_id is not None else \
                [r for rows in self.ratings.values() for r in rows]
            if created_since is not None:
                found = [r for r in found if parse_time(r["created_at"], "created_since") >= created_since]
            return copy.deepcopy(sorted(found, key=lambda r: (r["created_at"], r["id"])))

    # -------------------------------------------------------------------------------- listing

    def list_tickets(self, *, view: str | None, me: int, updated_since: float | None = None,
                     requester_id: int | None = None, company_id: int | None = None,
                     order_by: str = "created_at", order_type: str = "desc") -> list[dict[str, Any]]:
        """``GET /tickets`` before paging. Without ``updated_since`` only tickets created in the past
        30 days; deleted and spam tickets only through their views (``view`` = ``filter``)."""
        with self.lock:
            now = self.clock()
            rows = []
            for t in self.tickets.values():
                if view == "deleted":
                    if not t["_deleted"]:
                        continue
                elif t["_deleted"] or (t["spam"] != (view == "spam")):
                    continue
                if view == "new_and_my_open" and not (t["status"] == 2 and t["responder_id"] in (None, me)):
                    continue
                if view == "watching":
                    continue  # the simulator's agents watch no tickets
                if updated_since is not None:
                    if t["_updated"] < updated_since:
                        continue
                elif t["_created"] < now - RECENT_S:
                    continue
                if requester_id is not None and t["requester_id"] != requester_id:
                    continue
                if company_id is not None and t["company_id"] != company_id:
                    continue
                rows.append(t)
            key = {"created_at": "_created", "updated_at": "_updated"}.get(order_by, order_by)
            rows.sort(key=lambda t: (t[key], t["id"]), reverse=order_type == "desc")
            return copy.deepcopy(rows)

    def seed_tickets(self, n: int, rng: random.Random | None = None, *, days: float = 90.0) -> list[int]:
        """Create ``n`` realistic tickets with conversations (see :mod:`deskhand.sim.freshdesk_seed`)."""
        from deskhand.sim.freshdesk_seed import seed_tickets

        with self.lock:
            return seed_tickets(self, n, rng or random.Random(0), days=days)

    # --------------------------------------------------------------------------------- events

    def _emit(self, ticket: dict[str, Any], action: str, actor_id: int, events: dict[str, Any]) -> None:
        performer = "agent" if actor_id in self.people.agents else "requester"
        change = Change(copy.deepcopy(ticket), action, performer, actor_id, events)
        self.changes.append(change)
        for listener in list(self.listeners):
            listener(change)
