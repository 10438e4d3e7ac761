"""Freshdesk webhooks in the simulator: automation rules whose action is "Trigger Webhook".

Freshdesk has no webhook API and signs nothing (FACTS.md §6.5). An admin creates an automation rule
that runs on ticket creation or on ticket updates (events such as "Reply is sent", "Note is added",
"Status is changed", performed by an agent, the requester or anyone) and whose action POSTs to a
URL with custom headers and/or Basic auth, and a body that is either *simple* (chosen fields under
``{"freshdesk_webhook": {...}}``) or *advanced*: JSON the admin writes with placeholders such as
``{{ticket.id}}`` substituted as text (string values JSON-escaped). A failed delivery is retried
5 minutes later, then 30, then 60 (``retry_scale`` shrinks those for tests); then it is dropped.
Deliveries spend the account's API credits; one over the budget waits an hour (dropped after a day).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from deskhand.sim.base import RetryPolicy, WebhookDelivery
from deskhand.sim.freshdesk_records import PRIORITIES, SOURCES, STATUSES

if TYPE_CHECKING:
    from deskhand.sim.freshdesk_state import Change, FreshdeskState

RETRY_DELAYS_S = (300.0, 1800.0, 3600.0)
DEFER_S, DEFER_HOURS = 3600.0, 24  # over the API budget: tried again an hour later, dropped after a day
UPDATE_EVENTS = {"reply_sent": "reply_sent", "note_added": "note_added", "status": "status_changed",
                 "priority": "priority_changed", "type": "type_changed", "group_id": "group_updated",
                 "responder_id": "agent_updated", "deleted": "ticket_deleted"}
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_.]*)\s*\}\}")
_ids = itertools.count(43_000_300_001)


@dataclass
class Rule:
    """One automation rule with a Trigger Webhook action.

    ``runs_on`` is ``ticket_creation`` or ``ticket_update``; ``events`` (update rules) are names from
    ``UPDATE_EVENTS``' values, any of which fires the rule; ``performer`` is ``agent``, ``requester``
    or ``any``. ``content`` is the advanced JSON template; without it the simple mode sends
    ``simple_fields`` (placeholder names) under ``freshdesk_webhook``.
    """

    name: str
    url: str
    runs_on: str = "ticket_creation"
    events: tuple[str, ...] = ()
    performer: str = "any"
    content: str | None = None
    simple_fields: tuple[str, ...] = ("ticket.id", "ticket.subject", "ticket.status", "ticket.latest_public_comment")
    headers: dict[str, str] = field(default_factory=dict)
    basic_auth: tuple[str, str] | None = None
    active: bool = True
    id: int = field(default_factory=lambda: next(_ids))

    def matches(self, change: Change) -> bool:
        if not self.active:
            return False
        if self.runs_on == "ticket_creation":
            return change.action == "created"
        if change.action != "updated" or self.performer not in ("any", change.performer):
            return False
        return any(UPDATE_EVENTS.get(k) in self.events for k in change.events)


def _name(state: FreshdeskState, user_id: int | None) -> str:
    person = state.people.person(user_id)
    return person["name"] if person else ""


def _latest(state: FreshdeskState, ticket_id: int, private: bool) -> str:
    convs = [c for c in state.conversations.get(ticket_id, []) if c["private"] is private]
    return f"{_name(state, convs[-1]['user_id'])} : {convs[-1]['body']}" if convs else ""


def _triggered(change: Change) -> str:
    """``{{triggered_event}}``: what fired the rule, in Freshdesk's brace notation [U]."""
    if change.action == "created":
        return "{ticket_action:created}"
    events = change.events
    if "reply_sent" in events:
        return "{reply_sent:sent}"
    if "note_added" in events:
        return "{note_type:" + ("private" if events["note_added"]["private"] else "public") + "}"
    for key, (before, after) in ((k, v) for k, v in events.items() if isinstance(v, tuple)):
        # the numbers, not the names: real deliveries read "{status:{from:4,to:6}}" and
        # "{priority:{from:3,to:1}}" (tests/data/captures/freshdesk)
        return f"{{{key}:{{from:{before},to:{after}}}}}"
    return "{ticket_action:deleted}" if "deleted" in events else "{ticket_action:updated}"


def placeholders(state: FreshdeskState, change: Change) -> dict[str, Any]:
    """Every placeholder the simulator fills, for the ticket as the change left it."""
    t = change.ticket
    requester = state.people.person(t["requester_id"]) or {}
    agent = state.people.person(t["responder_id"]) or {}
    group = state.people.groups.get(t["group_id"] or -1, {})
    company = state.people.companies.get(t["company_id"] or -1, {})
    base = f"https://{state.domain}"
    values: dict[str, Any] = {
        "ticket.id": t["id"], "ticket.subject": t["subject"], "ticket.description": t["description"],
        # {{ticket.url}} as real deliveries render it (tests/data/captures/freshdesk): /helpdesk/tickets/<id>
        "ticket.url": f"{base}/helpdesk/tickets/{t['id']}", "ticket.portal_url": f"{base}/support/tickets/{t['id']}",
        "ticket.status": STATUSES.get(t["status"], str(t["status"])),
        "ticket.priority": PRIORITIES.get(t["priority"], str(t["priority"])),
        "ticket.source": SOURCES.get(t["source"], str(t["source"])), "ticket.ticket_type": t["type"] or "",
        "ticket.tags": ",".join(t["tags"]), "ticket.due_by_time": t["due_by"],
        "ticket.agent.name": agent.get("name") or "", "ticket.agent.email": agent.get("email") or "",
        "ticket.group.name": group.get("name", ""), "ticket.company.name": company.get("name", ""),
        "ticket.latest_public_comment": _latest(state, t["id"], False),
        "ticket.latest_private_comment": _latest(state, t["id"], True),
        "helpdesk_name": "Deskhand Simulator", "triggered_event": _triggered(change),
    }
    for prefix in ("ticket.requester", "ticket.contact"):
        for key in ("name", "email", "phone", "mobile"):
            values[f"{prefix}.{key}"] = requester.get(key) or ""
    return values


def render(template: str, values: Mapping[str, Any]) -> str:
    """Substitute ``{{name}}`` as text; unknown placeholders become empty, strings are JSON-escaped."""
    def one(m: re.Match[str]) -> str:
        value = values.get(m.group(1), "")
        return str(value) if isinstance(value, int) else json.dumps(str(value))[1:-1]

    return _PLACEHOLDER.sub(one, template)


def body_for(rule: Rule, values: Mapping[str, Any]) -> bytes:
    if rule.content is not None:
        return render(rule.content, values).encode()
    simple = {name.replace(".", "_"): values.get(name, "") for name in rule.simple_fields}
    return json.dumps({"freshdesk_webhook": simple}).encode()


def retry_after(scale: float) -> RetryPolicy:
    """Freshdesk's schedule: 5, then 30, then 60 minutes after failures (times ``scale``)."""
    def policy(status: int | None, headers: Mapping[str, str], attempt: int, *, backoff_s: float,
               max_backoff_s: float) -> float | None:
        if status is not None and 200 <= status < 300:
            return None
        return RETRY_DELAYS_S[attempt - 1] * scale if attempt <= len(RETRY_DELAYS_S) else None

    return policy


def delivery(retry_scale: float = 1.0) -> WebhookDelivery:
    """A :class:`WebhookDelivery` that retries as Freshdesk does (4 attempts in all)."""
    return WebhookDelivery(max_attempts=len(RETRY_DELAYS_S) + 1, retry_policy=retry_after(retry_scale))


class Dispatcher:
    """State listener: each matching active rule POSTs its body with its headers and auth.

    Each delivery spends one credit of the account's API budget (``spend``, when given); one over the
    budget is deferred an hour (times ``retry_scale``) and tried again, and dropped once deferred for
    a day (FACTS.md §6.5). ``deferred`` counts the deferrals, ``dropped`` the bodies given up.
    """

    def __init__(self, state: FreshdeskState, rules: list[Rule], sender: WebhookDelivery, *,
                 spend: Callable[[], bool] | None = None, retry_scale: float = 1.0):
        self.state, self.rules, self.sender = state, rules, sender
        self.spend, self.retry_scale = spend, retry_scale
        self.deferred = 0
        self.dropped: list[bytes] = []

    def _send(self, url: str, body: bytes, headers: dict[str, str], hours: int = 0) -> None:
        if self.spend is None or self.spend():
            try:
                self.sender.send(url, body, headers)
            except RuntimeError:  # the simulator stopped while this delivery was deferred
                self.dropped.append(body)
            return
        if hours >= DEFER_HOURS:
            self.dropped.append(body)
            return
        self.deferred += 1
        timer = threading.Timer(DEFER_S * self.retry_scale, self._send, (url, body, headers, hours + 1))
        timer.daemon = True
        timer.start()

    def __call__(self, change: Change) -> None:
        matching = [r for r in self.rules if r.matches(change)]
        if not matching:
            return
        values = placeholders(self.state, change)
        for rule in matching:
            headers = {"Content-Type": "application/json", **rule.headers}
            if rule.basic_auth is not None:
                token = base64.b64encode(":".join(rule.basic_auth).encode()).decode()
                headers["Authorization"] = f"Basic {token}"
            self._send(rule.url, body_for(rule, values), headers)


def deskhand_rules(url: str, *, secret: str | None = None, basic_auth: tuple[str, str] | None = None,
                   secret_header: str = "X-Deskhand-Secret") -> list[Rule]:
    """The rules the README tells a Freshdesk admin to create for deskhand (same bodies, same headers)."""
    headers = {secret_header: secret} if secret else {}

    def content(event: str) -> str:
        return DESKHAND_TEMPLATE.replace("EVENT", event)

    common: dict[str, Any] = {"url": url, "headers": headers, "basic_auth": basic_auth}
    return [
        Rule("deskhand: ticket created", runs_on="ticket_creation", content=content("ticket_created"), **common),
        Rule("deskhand: conversation added", runs_on="ticket_update", events=("reply_sent", "note_added"),
             content=content("comment_added"), **common),
        Rule("deskhand: ticket updated", runs_on="ticket_update",
             events=("status_changed", "priority_changed", "type_changed", "group_updated", "agent_updated"),
             content=content("ticket_updated"), **common),
    ]


DESKHAND_TEMPLATE = """{"freshdesk_webhook": {
  "event": "EVENT",
  "triggered_event": "{{triggered_event}}",
  "ticket_id": {{ticket.id}},
  "ticket_subject": "{{ticket.subject}}",
  "ticket_status": "{{ticket.status}}",
  "ticket_priority": "{{ticket.priority}}",
  "ticket_tags": "{{ticket.tags}}",
  "ticket_url": "{{ticket.url}}",
  "requester_name": "{{ticket.requester.name}}",
  "requester_email": "{{ticket.requester.email}}",
  "agent_email": "{{ticket.agent.email}}",
  "group_name": "{{ticket.group.name}}",
  "latest_public_comment": "{{ticket.latest_public_comment}}",
  "latest_private_comment": "{{ticket.latest_private_comment}}"
}}"""
