"""The Freshdesk simulator's people: agents, contacts, groups and companies in Freshdesk's JSON shapes.

Agents and contacts share one id space (both are users); an agent's ``id`` is its user id and the
ticket's ``responder_id``; a contact's id is the ticket's ``requester_id``. A :class:`Directory` is
owned by :class:`~deskhand.sim.freshdesk_state.FreshdeskState` and used under its lock.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from deskhand.sim.base import iso_utc
from deskhand.sim.freshdesk_records import CONTACT_FIELDS, check_fields, not_found, string, validation

SEED_GROUPS = ("Support", "Billing", "Escalations", "Engineering")
SEED_AGENTS = (("Alex Agent", "alex@deskhand.test"), ("Sam Support", "sam@deskhand.test"),
               ("Billie Billing", "billie@deskhand.test"))


class Directory:
    """Agents, contacts, groups and companies (plain dicts keyed by id)."""

    def __init__(self, clock: Callable[[], float], admin_email: str):
        self.clock = clock
        self._ids = itertools.count(43_000_612_001, 13)
        self.agents: dict[int, dict[str, Any]] = {}
        self.contacts: dict[int, dict[str, Any]] = {}
        self.groups: dict[int, dict[str, Any]] = {}
        self.companies: dict[int, dict[str, Any]] = {}
        now = iso_utc(clock())
        cid = next(self._ids)
        self.companies[cid] = {"id": cid, "name": "Acme Inc", "description": None, "note": None,
                               "domains": ["acme.test"], "custom_fields": {}, "health_score": None,
                               "account_tier": "Basic", "renewal_date": None, "industry": None,
                               "created_at": now, "updated_at": now}
        self.admin = self.add_agent("Admin Agent", admin_email, admin=True)
        for name, email in SEED_AGENTS:
            self.add_agent(name, email)
        for name in SEED_GROUPS:
            gid = next(self._ids)
            self.groups[gid] = {"id": gid, "name": name, "description": f"{name} team", "escalate_to": None,
                                "unassigned_for": "30m", "business_hour_id": None,
                                "group_type": "support_agent_group", "auto_ticket_assign": 0,
                                "created_at": now, "updated_at": now,
                                "_agent_ids": [a for a in self.agents if a != self.admin["id"]]}

    # ------------------------------------------------------------------------------- agents

    def add_agent(self, name: str, email: str, *, admin: bool = False) -> dict[str, Any]:
        uid, now = next(self._ids), iso_utc(self.clock())
        agent = {
            "id": uid, "available": True, "occasional": False, "signature": f"<div>{name}</div>",
            "ticket_scope": 1, "group_ids": [], "role_ids": [43_000_010_00 + (1 if admin else 4)],
            "skill_ids": [], "available_since": None, "type": "support_agent", "focus_mode": True,
            "created_at": now, "updated_at": now, "last_active_at": now,
            "contact": {"active": True, "email": email.lower(), "job_title": "Administrator" if admin else None,
                        "language": "en", "last_login_at": now, "mobile": None, "name": name, "phone": None,
                        "time_zone": "Eastern Time (US & Canada)", "created_at": now, "updated_at": now},
        }
        self.agents[uid] = agent
        return agent

    def agent_by_email(self, email: str) -> dict[str, Any] | None:
        email = email.strip().lower()
        return next((a for a in self.agents.values() if a["contact"]["email"] == email), None)

    @property
    def staff(self) -> list[dict[str, Any]]:
        """Every agent but the admin (who seeds and answers API calls by default)."""
        return [a for a in self.agents.values() if a["id"] != self.admin["id"]]

    # ----------------------------------------------------------------------------- contacts

    def contact_by_email(self, email: str) -> dict[str, Any] | None:
        email = email.strip().lower()
        return next((c for c in self.contacts.values()
                     if c["email"] == email or email in c["other_emails"]), None)

    def create_contact(self, data: Any) -> dict[str, Any]:
        data = check_fields(data, CONTACT_FIELDS)
        name = string(data, "name", required=True) or ""
        email = (string(data, "email") or "").strip().lower() or None
        if not name.strip():
            raise validation(("name", "It should not be blank as this is a mandatory field", "invalid_value"))
        if not any(data.get(k) for k in ("email", "phone", "mobile", "twitter_id", "unique_external_id")):
            raise validation(("email", "Please fill at least 1 of email, mobile, phone, twitter_id, "
                              "unique_external_id fields", "missing_field"))
        if email and (self.contact_by_email(email) or self.agent_by_email(email)):
            raise duplicate_email(email)
        company_id = data.get("company_id")
        if company_id is not None and company_id not in self.companies:
            raise validation(("company_id", "There is no company matching the given company_id", "invalid_value"))
        uid, now = next(self._ids), iso_utc(self.clock())
        contact = {
            "id": uid, "active": False, "address": data.get("address"), "company_id": company_id,
            "description": data.get("description"), "email": email, "job_title": data.get("job_title"),
            "language": data.get("language") or "en", "mobile": data.get("mobile"), "name": name,
            "phone": data.get("phone"), "time_zone": data.get("time_zone") or "Eastern Time (US & Canada)",
            "twitter_id": data.get("twitter_id"), "unique_external_id": data.get("unique_external_id"),
            "other_emails": list(data.get("other_emails") or []), "tags": list(data.get("tags") or []),
            "custom_fields": dict(data.get("custom_fields") or {}), "facebook_id": None,
            "view_all_tickets": bool(data.get("view_all_tickets", False)), "other_companies": [],
            "deleted": False, "created_at": now, "updated_at": now, "_updated": self.clock(),
        }
        self.contacts[uid] = contact
        return contact

    def update_contact(self, contact_id: int, data: Any) -> dict[str, Any]:
        contact = self.contact(contact_id)
        data = check_fields(data, CONTACT_FIELDS)
        for key, value in data.items():
            contact[key] = value.strip().lower() if key == "email" and isinstance(value, str) else value
        contact["updated_at"], contact["_updated"] = iso_utc(self.clock()), self.clock()
        return contact

    def contact(self, contact_id: int) -> dict[str, Any]:
        found = self.contacts.get(contact_id)
        if found is None:
            raise not_found()
        return found

    def requester_for(self, data: dict[str, Any]) -> int:
        """The ``requester_id`` a new ticket gets: given, found by email, or a new contact (as Freshdesk)."""
        if data.get("requester_id") is not None:
            rid = data["requester_id"]
            if rid not in self.contacts and rid not in self.agents:
                raise validation(("requester_id", "There is no contact matching the given requester_id",
                                  "invalid_value"))
            return int(rid)
        email = string(data, "email")
        if email:
            if "@" not in email:
                raise validation(("email", "It should be in the 'valid email address' format", "invalid_value"))
            known = self.contact_by_email(email) or self.agent_by_email(email)
            if known is not None:
                return int(known["id"])
            name = string(data, "name") or email.split("@")[0]
            return int(self.create_contact({"name": name, "email": email})["id"])
        if data.get("phone"):
            return int(self.create_contact({"name": data.get("name") or str(data["phone"]),
                                            "phone": data["phone"]})["id"])
        raise validation(("requester_id", "Please fill at least 1 of email, mobile, phone, twitter_id, "
                          "unique_external_id, facebook_id, requester_id fields", "missing_field"))

    def person(self, user_id: int | None) -> dict[str, Any] | None:
        """``{id, name, email, mobile, phone}`` of an agent or contact (``include=requester``)."""
        if user_id in self.contacts:
            c = self.contacts[user_id]
            return {"id": c["id"], "name": c["name"], "email": c["email"], "mobile": c["mobile"], "phone": c["phone"]}
        if user_id in self.agents:
            a = self.agents[user_id]["contact"]
            return {"id": user_id, "name": a["name"], "email": a["email"], "mobile": a["mobile"], "phone": a["phone"]}
        return None

    def email_of(self, user_id: int | None) -> str | None:
        found = self.person(user_id)
        return found["email"] if found else None

    def group_by_name(self, name: str) -> dict[str, Any]:
        return next(g for g in self.groups.values() if g["name"].lower() == name.lower())


def duplicate_email(email: str) -> Exception:
    return validation(("email", f"It should be a unique value ({email} is already in use)", "duplicate_value"))
