"""In-memory state of the Zendesk simulator: users, groups, organizations, tickets, comments, audits.

Records are stored as plain dicts in Zendesk's JSON shape (without ``url``, which depends on the
request's host and is added by the app). Times are kept as float Unix seconds (``_created``,
``_updated``) next to the ISO strings Zendesk shows. Every mutation bumps the ticket's ``_updated``,
which is the change log the incremental export reads (ordered by ``(_updated, id)``; deleted tickets
stay in it with status ``deleted``). Every public method takes the one lock: the state is safe to
share between the server thread and a test.

Ticket events (``zen:event-type:ticket.*``) produced by mutations are appended to ``events`` and
passed to every callable in ``listeners`` (the app turns them into signed webhook deliveries).
"""

from __future__ import annotations

import copy
import html
import itertools
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from deskhand.sim.base import iso_utc
from deskhand.sim.zendesk_events import change_event, comment_event, event_payload

STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("urgent", "high", "normal", "low")
TYPES = ("problem", "incident", "question", "task")
SEED_GROUPS = ("Support", "Billing", "Escalations", "Engineering")
SEED_AGENTS = (("Alex Agent", "alex@deskhand.test"), ("Sam Support", "sam@deskhand.test"),
               ("Billie Billing", "billie@deskhand.test"))
CUSTOM_STATUS_IDS = {s: 12_480_498_776_780 + i for i, s in enumerate((*STATUSES, "deleted"))}

Listener = Callable[[dict[str, Any]], None]


class ZendeskError(Exception):
    """An API error with Zendesk's status and body (raised by the state, rendered by the app)."""

    def __init__(self, status: int, body: dict[str, Any]):
        super().__init__(body.get("description") or body.get("error"))
        self.status = status
        self.body = body


def not_found() -> ZendeskError:
    return ZendeskError(404, {"error": "RecordNotFound", "description": "Not found"})


def invalid(field: str, description: str, error: str = "InvalidValue") -> ZendeskError:
    details = {field: [{"description": description, "error": error}]}
    return ZendeskError(422, {"error": "RecordInvalid", "description": "Record validation errors",
                              "details": details})


def _html_to_text(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<br\s*/?>|</p>", "\n", markup))).strip()


def _text_to_html(text: str) -> str:
    paras = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p.strip())
    return f'<div class="zd-comment" dir="auto">{paras}</div>'


def normalize_tags(tags: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for raw in tags:
        for tag in str(raw).lower().split():
            if tag not in out:
                out.append(tag)
    return out


class ZendeskState:
    """A whole Zendesk account in memory (thread-safe). See the module docstring."""

    def __init__(self, *, admin_email: str = "admin@deskhand.test", account_id: int = 12514403,
                 clock: Callable[[], float] = time.time, subdomain: str = "sim"):
        self.clock = clock
        self.account_id = account_id
        self.subdomain = subdomain
        self.lock = threading.RLock()
        self.users: dict[int, dict[str, Any]] = {}
        self.groups: dict[int, dict[str, Any]] = {}
        self.organizations: dict[int, dict[str, Any]] = {}
        self.tickets: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.audits: dict[int, list[dict[str, Any]]] = {}
        self.deleted: dict[int, dict[str, Any]] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.listeners: list[Listener] = []
        self._ticket_ids = itertools.count(1)
        self._ids = itertools.count(360_000_000_001, 7)
        self._seed(admin_email)

    # ------------------------------------------------------------------------------ directory

    def _seed(self, admin_email: str) -> None:
        self.admin = self.create_user({"name": "Admin Agent", "email": admin_email, "role": "admin"})
        self.agents = [self.create_user({"name": n, "email": e, "role": "agent"}) for n, e in SEED_AGENTS]
        now = iso_utc(self.clock())
        for name in SEED_GROUPS:
            gid = next(self._ids)
            self.groups[gid] = {"id": gid, "name": name, "deleted": False, "description": "",
                                "default": name == "Support", "is_public": True,
                                "created_at": now, "updated_at": now}
        oid = next(self._ids)
        self.organizations[oid] = {"id": oid, "name": "Acme Inc", "shared_tickets": False,
                                   "shared_comments": False, "external_id": None, "created_at": now,
                                   "updated_at": now, "domain_names": ["acme.test"], "details": "",
                                   "notes": "", "group_id": None, "tags": [], "organization_fields": {}}

    def create_user(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            email = (data.get("email") or "").strip().lower() or None
            if email and self.user_by_email(email):
                raise invalid("email", f"Email: {email} is already being used by another user",
                              "DuplicateValue")
            if not data.get("name"):
                raise invalid("name", "Name: is too short (minimum one character)", "BlankValue")
            role = data.get("role") or "end-user"
            if role not in ("end-user", "agent", "admin"):
                raise invalid("role", f"Role: {role} is not valid")
            uid, now = next(self._ids), iso_utc(self.clock())
            user = {
                "id": uid, "name": data["name"], "email": email, "created_at": now, "updated_at": now,
                "time_zone": "UTC", "iana_time_zone": "Etc/UTC", "phone": None, "shared_phone_number": None,
                "photo": None, "locale_id": 1, "locale": "en-US",
                "organization_id": data.get("organization_id"), "role": role, "verified": True,
                "external_id": data.get("external_id"), "tags": normalize_tags(data.get("tags") or []),
                "alias": "", "active": True, "shared": False, "shared_agent": False, "last_login_at": None,
                "two_factor_auth_enabled": False, "signature": None, "details": "", "notes": "",
                "role_type": None, "custom_role_id": None, "moderator": role != "end-user",
                "ticket_restriction": None if role != "end-user" else "requested",
                "only_private_comments": False, "restricted_agent": False, "suspended": False,
                "chat_only": False, "default_group_id": None, "report_csv": role == "admin",
                "user_fields": {},
            }
            self.users[uid] = user
            return copy.deepcopy(user)

    def user_by_email(self, email: str) -> dict[str, Any] | None:
        email = email.strip().lower()
        with self.lock:
            return next((u for u in self.users.values() if u["email"] == email), None)

    def acting_user(self, email: str | None) -> dict[str, Any]:
        """The user an API call acts as: the agent with that email (created as admin if new)."""
        if not email:
            return self.admin
        with self.lock:
            user = self.user_by_email(email)
            if user is None:
                self.create_user({"name": email.split("@")[0], "email": email, "role": "admin"})
                user = self.user_by_email(email)
            assert user is not None
            return user

    def is_agent(self, user_id: int | None) -> bool:
        return user_id in self.users and self.users[user_id]["role"] in ("agent", "admin")

    def find_user(self, ref: str) -> list[int]:
        """Users matching an id, email or (case-insensitive) name — as search's ``requester:`` does."""
        ref = ref.lower()
        with self.lock:
            return [u["id"] for u in self.users.values()
                    if ref in (str(u["id"]), u["email"], u["name"].lower())]

    def find_group(self, ref: str) -> list[int]:
        ref = ref.lower()
        with self.lock:
            return [g["id"] for g in self.groups.values() if ref in (str(g["id"]), g["name"].lower())]

    def _requester_id(self, data: dict[str, Any], actor: dict[str, Any]) -> int:
        if data.get("requester_id") is not None:
            if int(data["requester_id"]) not in self.users:
                raise invalid("requester", "Requester: is invalid")
            return int(data["requester_id"])
        requester = data.get("requester")
        if isinstance(requester, dict) and requester.get("email"):
            existing = self.user_by_email(requester["email"])
            if existing:
                return existing["id"]
            name = requester.get("name") or requester["email"].split("@")[0]
            return self.create_user({"name": name, "email": requester["email"]})["id"]
        return actor["id"]

    # -------------------------------------------------------------------------------- tickets

    def get_ticket(self, ticket_id: int) -> dict[str, Any]:
        with self.lock:
            if ticket_id not in self.tickets:
                raise not_found()
            return copy.deepcopy(self.tickets[ticket_id])

    def _validate(self, data: dict[str, Any]) -> None:
        checks = (("status", STATUSES), ("priority", PRIORITIES), ("type", TYPES))
        for name, allowed in checks:
            value = data.get(name)
            if value is not None and value not in allowed:
                raise invalid(name, f"{name.capitalize()}: {value} is not valid")
        if data.get("assignee_id") is not None and not self.is_agent(int(data["assignee_id"])):
            raise invalid("assignee", "Assignee: is not an agent")
        if data.get("group_id") is not None and int(data["group_id"]) not in self.groups:
            raise invalid("group", "Group: is invalid")

    def create_ticket(self, data: dict[str, Any], actor: dict[str, Any], *,
                      at: float | None = None, notify: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
        """POST /tickets: returns ``(ticket, audit)``. ``at`` back-dates it (seeding)."""
        comment = data.get("comment") or {}
        body = comment.get("body") or comment.get("html_body") or data.get("description")
        if not body:
            raise invalid("description", "Description: cannot be blank", "BlankValue")
        with self.lock:
            self._validate(data)
            now = self.clock() if at is None else at
            requester_id = self._requester_id(data, actor)
            assignee = data.get("assignee_id")
            status = data.get("status") or ("open" if assignee else "new")
            tid, stamp = next(self._ticket_ids), iso_utc(now)
            public = bool(comment.get("public", True))
            ticket = {
                "id": tid, "external_id": data.get("external_id"),
                "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
                "created_at": stamp, "updated_at": stamp, "type": data.get("type"),
                "subject": data.get("subject") or "", "raw_subject": data.get("subject") or "",
                "description": "", "priority": data.get("priority"), "status": status,
                "custom_status_id": CUSTOM_STATUS_IDS[status], "satisfaction_probability": None,
                "recipient": None, "requester_id": requester_id,
                "submitter_id": data.get("submitter_id") or actor["id"],
                "assignee_id": int(assignee) if assignee else None,
                "organization_id": self.users[requester_id]["organization_id"],
                "group_id": int(data["group_id"]) if data.get("group_id") else None,
                "collaborator_ids": [], "follower_ids": [], "email_cc_ids": [], "forum_topic_id": None,
                "problem_id": None, "has_incidents": False, "is_public": public, "due_at": None,
                "tags": normalize_tags(data.get("tags") or []),
                "custom_fields": list(data.get("custom_fields") or []), "satisfaction_rating": None,
                "sharing_agreement_ids": [], "fields": list(data.get("custom_fields") or []),
                "followup_ids": [], "ticket_form_id": None, "brand_id": 360_000_000_000,
                "allow_channelback": False, "allow_attachments": True, "from_messaging_channel": False,
                "_created": now, "_updated": now,
            }
            if ticket["group_id"] is None and ticket["assignee_id"] is not None:
                ticket["group_id"] = self.find_group("support")[0]
            self.tickets[tid], self.comments[tid], self.audits[tid] = ticket, [], []
            audit = self._new_audit(ticket, actor, now)
            author = int(comment.get("author_id") or ticket["submitter_id"])  # submitter writes it
            first = self._add_comment(ticket, audit, comment or {"body": body}, author, now)
            ticket["description"] = first["body"]
            for field in ("subject", "status", "priority", "type", "requester_id", "assignee_id", "group_id"):
                audit["events"].append({"id": next(self._ids), "type": "Create", "field_name": field,
                                        "value": ticket[field]})
            if ticket["tags"]:
                audit["events"].append({"id": next(self._ids), "type": "Create", "field_name": "tags",
                                        "value": list(ticket["tags"])})
            if notify:
                self._emit(ticket, "created", actor["id"], {})
            return copy.deepcopy(ticket), copy.deepcopy(audit)

    def _new_audit(self, ticket: dict[str, Any], actor: dict[str, Any], now: float) -> dict[str, Any]:
        audit = {"id": next(self._ids), "ticket_id": ticket["id"], "created_at": iso_utc(now),
                 "author_id": actor["id"], "metadata": {"system": {}, "custom": {}},
                 "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}}, "events": []}
        self.audits[ticket["id"]].append(audit)
        return audit

    def _add_comment(self, ticket: dict[str, Any], audit: dict[str, Any], data: dict[str, Any],
                     author_id: int, now: float) -> dict[str, Any]:
        if data.get("html_body"):
            html_body, body = data["html_body"], _html_to_text(data["html_body"])
        else:
            body = str(data.get("body") or "")
            html_body = _text_to_html(body)
        if author_id not in self.users:
            raise invalid("author", "Author: is invalid")
        comment = {
            "id": next(self._ids), "type": "Comment", "author_id": author_id, "body": body,
            "html_body": html_body, "plain_body": body, "public": bool(data.get("public", True)),
            "attachments": [], "audit_id": audit["id"], "via": audit["via"],
            "metadata": {"system": {}, "custom": {}}, "created_at": iso_utc(now), "_created": now,
        }
        self.comments[ticket["id"]].append(comment)
        audit["events"].append({k: v for k, v in comment.items()
                                if k not in ("created_at", "_created", "via", "metadata")})
        return comment

    def update_ticket(self, ticket_id: int, data: dict[str, Any], actor: dict[str, Any], *,
                      at: float | None = None, notify: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
        """PUT /tickets/{id}: returns ``(ticket, audit)``; closed tickets refuse updates (422)."""
        with self.lock:
            if ticket_id not in self.tickets:
                raise not_found()
            ticket = self.tickets[ticket_id]
            if ticket["status"] == "closed":
                raise invalid("status", "Status: closed prevents ticket update", "ClosedTicket")
            self._validate(data)
            now = self.clock() if at is None else at
            before = copy.deepcopy(ticket)
            audit = self._new_audit(ticket, actor, now)
            comment = data.get("comment")
            added = None
            if comment and (comment.get("body") or comment.get("html_body")):
                author = int(comment.get("author_id") or actor["id"])
                added = self._add_comment(ticket, audit, comment, author, now)
                if not self.is_agent(author) and ticket["status"] in ("pending", "hold", "solved") \
                        and "status" not in data:
                    ticket["status"] = "open"
            for field in ("status", "priority", "type", "subject", "assignee_id", "group_id", "external_id"):
                if field in data:
                    value = data[field]
                    ticket[field] = int(value) if field.endswith("_id") and value is not None \
                        and field != "external_id" else value
            if "assignee_id" in data and data["assignee_id"] and "status" not in data \
                    and ticket["status"] == "new":
                ticket["status"] = "open"
            if "tags" in data:
                ticket["tags"] = normalize_tags(data["tags"] or [])
            ticket["tags"] = [t for t in ticket["tags"] if t not in normalize_tags(data.get("remove_tags") or [])]
            ticket["tags"] = normalize_tags(ticket["tags"] + list(data.get("additional_tags") or []))
            self._record_changes(ticket, before, audit, actor["id"], added, notify, now)
            return copy.deepcopy(ticket), copy.deepcopy(audit)

    def _record_changes(self, ticket: dict[str, Any], before: dict[str, Any], audit: dict[str, Any],
                        actor_id: int, added: dict[str, Any] | None, notify: bool, now: float) -> None:
        ticket["_updated"], ticket["updated_at"] = now, iso_utc(now)
        ticket["custom_status_id"] = CUSTOM_STATUS_IDS[ticket["status"]]
        for field in ("status", "priority", "type", "subject", "assignee_id", "group_id", "tags"):
            if ticket[field] != before[field]:
                audit["events"].append({"id": next(self._ids), "type": "Change", "field_name": field,
                                        "value": ticket[field], "previous_value": before[field]})
        if not notify:
            return
        if added is not None:
            author = self.users[added["author_id"]]
            self._emit(ticket, "comment_added", actor_id, comment_event(added, author))
        simple = {"status": "status_changed", "priority": "priority_changed",
                  "assignee_id": "agent_assignment_changed", "group_id": "group_assignment_changed",
                  "subject": "subject_changed"}
        for field, kind in simple.items():
            if ticket[field] != before[field]:
                self._emit(ticket, kind, actor_id, change_event(field, ticket[field], before[field]))
        if ticket["tags"] != before["tags"]:
            self._emit(ticket, "tags_changed", actor_id, {
                "tags_added": [t for t in ticket["tags"] if t not in before["tags"]],
                "tags_removed": [t for t in before["tags"] if t not in ticket["tags"]]})

    def set_tags(self, ticket_id: int, tags: list[str], mode: str, actor: dict[str, Any]) -> list[str]:
        """Tags endpoint: ``mode`` is ``add`` (PUT), ``set`` (POST) or ``remove`` (DELETE)."""
        key = {"add": "additional_tags", "set": "tags", "remove": "remove_tags"}[mode]
        ticket, _ = self.update_ticket(ticket_id, {key: tags}, actor)
        return ticket["tags"]

    def delete_ticket(self, ticket_id: int, actor: dict[str, Any]) -> None:
        with self.lock:
            if ticket_id not in self.tickets:
                raise not_found()
            ticket = self.tickets.pop(ticket_id)
            now = self.clock()
            ticket.update(status="deleted", _updated=now, updated_at=iso_utc(now))
            self.deleted[ticket_id] = ticket
            self._emit(ticket, "soft_deleted", actor["id"], {})

    def list_comments(self, ticket_id: int) -> list[dict[str, Any]]:
        with self.lock:
            if ticket_id not in self.tickets:
                raise not_found()
            return copy.deepcopy(self.comments[ticket_id])

    def list_audits(self, ticket_id: int) -> list[dict[str, Any]]:
        with self.lock:
            if ticket_id not in self.tickets:
                raise not_found()
            return copy.deepcopy(self.audits[ticket_id])

    def seed_tickets(self, n: int, rng: random.Random | None = None) -> list[int]:
        """Create ``n`` realistic tickets with conversations (see :mod:`deskhand.sim.zendesk_seed`)."""
        from deskhand.sim.zendesk_seed import seed_tickets

        with self.lock:
            return seed_tickets(self, n, rng or random.Random(0))

    def changed_tickets(self) -> list[dict[str, Any]]:
        """Live and deleted tickets ordered by ``(_updated, id)``: the incremental export's log."""
        with self.lock:
            rows = [*self.tickets.values(), *self.deleted.values()]
            return copy.deepcopy(sorted(rows, key=lambda t: (t["_updated"], t["id"])))

    # --------------------------------------------------------------------------------- events

    def _emit(self, ticket: dict[str, Any], kind: str, actor_id: int, event: dict[str, Any]) -> None:
        payload = event_payload(self.account_id, self.clock(), ticket, kind, actor_id, event)
        self.events.append(payload)
        for listener in list(self.listeners):
            listener(payload)


def public(record: dict[str, Any]) -> dict[str, Any]:
    """A stored record without its private ``_`` keys (deep copy)."""
    return {k: copy.deepcopy(v) for k, v in record.items() if not k.startswith("_")}
