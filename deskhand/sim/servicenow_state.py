"""The ServiceNow simulator's state: tables of records as plain data, and the incident rules.

Every value is stored as the string the Table API returns (``sysparm_display_value=false``);
references hold the target's ``sys_id``. Tables: ``incident``, ``sys_user``, ``sys_user_group``,
``sys_user_grmember`` and ``sys_journal_field`` (the comments and work notes: writing an incident's
``comments`` or ``work_notes`` appends a journal entry; reading the incident shows them empty, as
the real Table API does with display values off). The baseline incident rules (FACTS.md §5.2):
``priority`` from impact × urgency, On Hold (3) needs a ``hold_reason``, Resolved (6) and Closed (7)
need ``close_code`` and ``close_notes`` (a data policy: refused with 403), Closed and Canceled make
the incident inactive, the caller's comment on an incident awaiting the caller puts it back In
Progress. ``listeners`` hear every insert/update/delete of an incident (the webhook business rule).
The clock is injectable (``clock`` returns Unix seconds).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Record = dict[str, str]
Listener = Callable[[str, Record, list[str], Record | None], None]  # (operation, incident, changed, journal)

STATES = {"1": "New", "2": "In Progress", "3": "On Hold", "6": "Resolved", "7": "Closed", "8": "Canceled"}
HOLD_REASONS = {"1": "Awaiting Caller", "3": "Awaiting Problem", "4": "Awaiting Vendor", "5": "Awaiting Change"}
LEVELS = {"1": "1 - High", "2": "2 - Medium", "3": "3 - Low"}
PRIORITIES = {"1": "1 - Critical", "2": "2 - High", "3": "3 - Moderate", "4": "4 - Low", "5": "5 - Planning"}
CHOICES: dict[str, dict[str, str]] = {"state": STATES, "incident_state": STATES, "hold_reason": HOLD_REASONS,
                                      "impact": LEVELS, "urgency": LEVELS, "priority": PRIORITIES}
JOURNALS = ("comments", "work_notes")
JOURNAL_LABELS = {"comments": "Additional comments", "work_notes": "Work notes"}

_SYS = ("sys_id", "sys_created_on", "sys_created_by", "sys_updated_on", "sys_updated_by", "sys_mod_count")
COLUMNS: dict[str, tuple[str, ...]] = {
    "incident": (*_SYS, "number", "short_description", "description", "caller_id", "opened_by", "opened_at",
                 "assigned_to", "assignment_group", "state", "incident_state", "hold_reason", "impact", "urgency",
                 "priority", "category", "contact_type", "close_code", "close_notes", "resolved_at", "resolved_by",
                 "closed_at", "active", "comments", "work_notes", "sys_class_name", "sys_tags"),
    "sys_user": (*_SYS, "user_name", "name", "first_name", "last_name", "email", "active", "title", "roles"),
    "sys_user_group": (*_SYS, "name", "description", "email", "manager", "active"),
    "sys_user_grmember": (*_SYS, "user", "group"),
    "sys_journal_field": (*_SYS, "element", "element_id", "name", "value"),
    "label": (*_SYS, "name", "type", "viewable_by", "owner"),
    "label_entry": (*_SYS, "label", "table", "table_key", "title"),
}
REFERENCES: dict[str, dict[str, str]] = {
    "incident": {"caller_id": "sys_user", "opened_by": "sys_user", "assigned_to": "sys_user",
                 "resolved_by": "sys_user", "assignment_group": "sys_user_group"},
    "sys_user_group": {"manager": "sys_user"},
    "sys_user_grmember": {"user": "sys_user", "group": "sys_user_group"},
    "label": {"owner": "sys_user"},
    "label_entry": {"label": "label"},
}
DISPLAY_FIELD = {"incident": "number", "sys_user": "name", "sys_user_group": "name", "label": "name"}


class Refused(Exception):
    """A write the instance refuses: HTTP ``status`` with the Table API's message and detail."""

    def __init__(self, status: int, message: str, detail: str | None = None):
        super().__init__(f"{status} {message}: {detail}")
        self.status, self.message, self.detail = status, message, detail


def stamp(ts: float) -> str:
    """Unix seconds as ServiceNow writes a date-time (``yyyy-MM-dd HH:mm:ss``, UTC)."""
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class ServiceNowState:
    instance: str = "acme"
    clock: Callable[[], float] = time.time
    tables: dict[str, dict[str, Record]] = field(default_factory=lambda: {t: {} for t in COLUMNS})
    passwords: dict[str, str] = field(default_factory=dict)  # user_name -> password
    deleted: dict[str, set[str]] = field(default_factory=lambda: {t: set() for t in COLUMNS})
    listeners: list[Listener] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _numbers: Any = field(default_factory=lambda: itertools.count(10001))

    # ----------------------------------------------------------------------------- generic rows
    def _base(self, table: str, by: str) -> Record:
        now = stamp(self.clock())
        row = {c: "" for c in COLUMNS[table]}
        return row | {"sys_id": uuid.uuid4().hex, "sys_created_on": now, "sys_created_by": by,
                      "sys_updated_on": now, "sys_updated_by": by, "sys_mod_count": "0"}

    def insert(self, table: str, values: dict[str, Any], by: str = "admin") -> Record:
        """A new row of `table` (incidents through :meth:`create_incident`)."""
        if table == "incident":
            return self.create_incident(values, by)
        with self.lock:
            row = self._base(table, by)
            row.update({k: _text(v) for k, v in values.items() if k in COLUMNS[table] and k not in _SYS})
            if table == "sys_user" and not row["name"]:
                row["name"] = f"{row['first_name']} {row['last_name']}".strip()
            if "active" in row and not row["active"]:
                row["active"] = "true"
            if table == "label_entry" and row["table"] == "incident":
                if row["label"] not in self.tables["label"] or row["table_key"] not in self.tables["incident"]:
                    raise Refused(400, "Invalid label entry", "label and table_key must name a tag and an incident")
                self.tables[table][row["sys_id"]] = row
                self._retag(row["table_key"])
                return row
            self.tables[table][row["sys_id"]] = row
            return row

    def _retag(self, incident: str) -> None:
        """An incident's ``sys_tags``: its tags' label sys_ids (tagging does not touch sys_updated_on)."""
        labels = [e["label"] for e in self.tables["label_entry"].values()
                  if e["table"] == "incident" and e["table_key"] == incident]
        self.tables["incident"][incident]["sys_tags"] = ",".join(labels)

    def tags(self, incident: str) -> list[str]:
        labels = self.tables["label"]
        return [labels[i]["name"] for i in self.tables["incident"][incident]["sys_tags"].split(",") if i in labels]

    def user(self, user_name: str) -> Record | None:
        return next((u for u in self.tables["sys_user"].values() if u["user_name"] == user_name), None)

    def add_user(self, user_name: str, name: str, email: str, password: str | None = None, roles: str = "") -> Record:
        first, _, last = name.partition(" ")
        row = self.insert("sys_user", {"user_name": user_name, "name": name, "first_name": first, "last_name": last,
                                       "email": email, "roles": roles})
        if password is not None:
            self.passwords[user_name] = password
        return row

    def add_group(self, name: str, members: list[Record]) -> Record:
        group = self.insert("sys_user_group", {"name": name, "description": f"{name} team"})
        for member in members:
            self.insert("sys_user_grmember", {"user": member["sys_id"], "group": group["sys_id"]})
        return group

    def delete(self, table: str, sys_id: str, by: str = "admin") -> Record:
        with self.lock:
            row = self.tables[table].pop(sys_id, None)
            if row is None:
                raise Refused(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
            self.deleted[table].add(sys_id)
            if table == "label_entry" and row["table_key"] in self.tables["incident"]:
                self._retag(row["table_key"])
            if table == "incident":
                self._tell("delete", row, [], None)
            return row

    # -------------------------------------------------------------------------------- incidents
    def create_incident(self, values: dict[str, Any], by: str = "admin") -> Record:
        with self.lock:
            row = self._base("incident", by)
            row.update({"number": f"INC{next(self._numbers):07d}", "state": "1", "impact": "3", "urgency": "3",
                        "active": "true", "sys_class_name": "incident", "contact_type": "email",
                        "opened_at": row["sys_created_on"], "category": "inquiry"})
            opener = self.user(by)
            row["opened_by"] = opener["sys_id"] if opener else ""
            journal = self._apply(row, values, by, creating=True)
            self.tables["incident"][row["sys_id"]] = row
            self._tell("insert", row, sorted(k for k in values if k in COLUMNS["incident"]), journal)
            return row

    def update_incident(self, sys_id: str, values: dict[str, Any], by: str = "admin") -> Record:
        with self.lock:
            row = self.tables["incident"].get(sys_id)
            if row is None:
                raise Refused(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
            before = dict(row)
            journal = self._apply(row, values, by, creating=False)
            changed = sorted(k for k in COLUMNS["incident"] if row[k] != before[k] and not k.startswith("sys_"))
            changed += [j for j in JOURNALS if _text(values.get(j, ""))]
            if changed:
                row["sys_updated_on"], row["sys_updated_by"] = stamp(self.clock()), by
                row["sys_mod_count"] = str(int(row["sys_mod_count"]) + 1)
                self._tell("update", row, sorted(set(changed)), journal)
            return row

    def _apply(self, row: Record, values: dict[str, Any], by: str, *, creating: bool) -> Record | None:
        """Apply a write's `values` to `row` under the baseline rules; the last journal entry it made."""
        proposed = dict(row)
        for key, value in values.items():
            if key in COLUMNS["incident"] and key not in (*_SYS, *JOURNALS, "number", "sys_tags"):
                proposed[key] = _ref(value)
        if "state" in values and "incident_state" not in values:
            proposed["incident_state"] = proposed["state"]
        elif "incident_state" in values and "state" not in values:
            proposed["state"] = proposed["incident_state"]
        notes = {j: _text(values.get(j, "")) for j in JOURNALS}
        author = self.user(by)
        caller_says = bool(notes["comments"]) and author is not None and author["sys_id"] == row["caller_id"]
        if (caller_says and not creating and row["state"] == "3" and row["hold_reason"] == "1"
                and "state" not in values):
            proposed["state"] = proposed["incident_state"] = "2"
        state = proposed["state"]
        missing = []
        if state == "3" and not proposed["hold_reason"]:
            missing.append("On hold reason")
        if state in ("6", "7"):
            labels = (("close_code", "Resolution code"), ("close_notes", "Resolution notes"))
            missing += [label for name, label in labels if not proposed[name].strip()]
        if missing:
            raise Refused(403, "Operation Failed",
                          "Data Policy Exception: \n\tThe following fields are mandatory: " + ", ".join(missing) + "\n")
        for name, target in REFERENCES["incident"].items():
            if proposed[name] and proposed[name] not in self.tables[target]:
                proposed[name] = ""  # an unknown reference is dropped, as the instance does
        if state != "3":
            proposed["hold_reason"] = ""
        if state in ("6", "7") and row["state"] not in ("6", "7"):
            proposed["resolved_at"] = stamp(self.clock())
            resolver = self.user(by)
            proposed["resolved_by"] = resolver["sys_id"] if resolver else ""
        if state == "7" and row["state"] != "7":
            proposed["closed_at"] = stamp(self.clock())
        proposed["active"] = "false" if state in ("7", "8") else "true"
        impact = proposed["impact"] if proposed["impact"] in LEVELS else "3"
        urgency = proposed["urgency"] if proposed["urgency"] in LEVELS else "3"
        proposed["priority"] = str(int(impact) + int(urgency) - 1)
        row.update(proposed)
        last = None
        for element in JOURNALS:
            if notes[element]:
                last = self.insert("sys_journal_field", {"element": element, "element_id": row["sys_id"],
                                                         "name": "incident", "value": notes[element]}, by)
        return last

    def journal(self, sys_id: str, elements: tuple[str, ...] = JOURNALS) -> list[Record]:
        rows = [j for j in self.tables["sys_journal_field"].values()
                if j["element_id"] == sys_id and j["element"] in elements]
        return sorted(rows, key=lambda j: j["sys_created_on"])

    def journal_text(self, sys_id: str, element: str) -> str:
        """What the form shows for a journal field (its display value): newest entry first."""
        parts = []
        for entry in reversed(self.journal(sys_id, (element,))):
            who = self.user(entry["sys_created_by"])
            parts.append(f"{entry['sys_created_on']} - {who['name'] if who else entry['sys_created_by']} "
                         f"({JOURNAL_LABELS[element]})\n{entry['value']}\n\n")
        return "".join(parts)

    def _tell(self, operation: str, row: Record, changed: list[str], journal: Record | None) -> None:
        for listener in list(self.listeners):
            listener(operation, dict(row), changed, dict(journal) if journal else None)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _ref(value: Any) -> str:
    """A written value as stored: a reference may come as ``{"value": sys_id}`` (pysnc, display_value=all)."""
    if isinstance(value, dict):
        return _text(value.get("value", ""))
    return _text(value)
