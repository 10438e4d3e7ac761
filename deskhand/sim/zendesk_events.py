"""Zendesk ticket-event payloads (``zen:event-type:ticket.*``) as the webhook event subscriptions send them.

Shape: ``{type, account_id, id (uuid), time, zendesk_event_version, subject "zen:ticket:ID", detail,
event}``; in ``detail`` ids are strings and status/priority/type upper-case; ``event`` carries the
change (``current``/``previous``, ``comment``, ``tags_added``/``tags_removed``) plus ``meta.sequence``.
Source: developer.zendesk.com/api-reference/webhooks/event-types/ticket-events (see FACTS.md §1.6).
"""

from __future__ import annotations

import uuid
from typing import Any

from deskhand.sim.base import iso_utc

EVENT_VERSION = "2022-11-06"


def event_payload(account_id: int, now: float, ticket: dict[str, Any], kind: str, actor_id: int,
                  event: dict[str, Any]) -> dict[str, Any]:
    """The full payload of ``zen:event-type:ticket.{kind}`` for ``ticket`` as it is now."""
    sequence = {"id": uuid.uuid4().hex.upper(), "position": 1, "total": 1}
    return {
        "type": f"zen:event-type:ticket.{kind}", "account_id": account_id, "id": str(uuid.uuid4()),
        "time": iso_utc(now), "zendesk_event_version": EVENT_VERSION, "subject": f"zen:ticket:{ticket['id']}",
        "detail": ticket_detail(ticket, actor_id), "event": {**event, "meta": {"sequence": sequence}},
    }


def comment_event(comment: dict[str, Any], author: dict[str, Any]) -> dict[str, Any]:
    """``event`` of ``ticket.comment_added``."""
    return {"comment": {
        "id": str(comment["id"]), "body": comment["body"], "is_public": comment["public"],
        "author": {"id": str(author["id"]), "is_staff": author["role"] != "end-user", "name": author["name"]},
    }}


def change_event(field: str, current: Any, previous: Any) -> dict[str, Any]:
    """``event`` of a ``*_changed`` type: ``{current, previous}`` in event notation."""
    return {"current": _event_value(field, current), "previous": _event_value(field, previous)}


def _event_value(field: str, value: Any) -> Any:
    if value is None:
        return None
    if field.endswith("_id"):
        return str(value)
    return value.upper() if field in ("status", "priority") else value


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def ticket_detail(ticket: dict[str, Any], actor_id: int) -> dict[str, Any]:
    """The ``detail`` object of a ticket event: ids as strings, enums upper-case (as Zendesk sends)."""
    return {
        "actor_id": str(actor_id), "assignee_id": _str_or_none(ticket["assignee_id"]),
        "brand_id": str(ticket["brand_id"]), "created_at": ticket["created_at"],
        "custom_status": str(ticket["custom_status_id"]), "description": ticket["description"],
        "external_id": _str_or_none(ticket["external_id"]), "form_id": _str_or_none(ticket["ticket_form_id"]),
        "group_id": _str_or_none(ticket["group_id"]), "id": str(ticket["id"]), "is_public": ticket["is_public"],
        "organization_id": _str_or_none(ticket["organization_id"]),
        "priority": (ticket["priority"] or "").upper() or None,
        "requester_id": str(ticket["requester_id"]), "status": ticket["status"].upper(),
        "subject": ticket["subject"], "submitter_id": str(ticket["submitter_id"]), "tags": list(ticket["tags"]),
        "type": (ticket["type"] or "").upper() or None, "updated_at": ticket["updated_at"],
        "via": {"channel": "web_service"},
    }


