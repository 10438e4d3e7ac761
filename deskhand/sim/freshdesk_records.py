"""Freshdesk API v2 vocabulary for the simulator: constants, error bodies and request-body validation.

Status 2 Open, 3 Pending, 4 Resolved, 5 Closed (+ custom 6 Waiting on Customer, 7 Waiting on
Third Party); priority 1 Low … 4 Urgent; ticket source 1 Email,
2 Portal, 3 Phone, 7 Chat, 9 Feedback widget, 10 Outbound email; conversation source 0 reply,
2 note (FACTS.md §6.2, §12). Errors carry Freshdesk's bodies: a validation failure is
``400 {"description": "Validation failed", "errors": [{"field", "message", "code"}]}``, a bad key is
``401 {"code": "invalid_credentials", "message": …}`` and a missing record a bare 404.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any

# 2-5 are Freshdesk's own; 6 and 7 are the custom statuses a new helpdesk starts with [U]
STATUSES = {2: "Open", 3: "Pending", 4: "Resolved", 5: "Closed", 6: "Waiting on Customer", 7: "Waiting on Third Party"}
PRIORITIES = {1: "Low", 2: "Medium", 3: "High", 4: "Urgent"}
SOURCES = {1: "Email", 2: "Portal", 3: "Phone", 7: "Chat", 9: "Feedback Widget", 10: "Outbound Email"}
TYPES = ("Question", "Incident", "Problem", "Feature Request", "Refund")
REPLY, NOTE = 0, 2  # conversation sources (python-freshdesk reads 0 = reply, 2 = note)
MAX_TAG_LENGTH = 32

TICKET_CREATE_FIELDS = frozenset({
    "name", "requester_id", "email", "facebook_id", "phone", "twitter_id", "unique_external_id",
    "subject", "type", "status", "priority", "description", "responder_id", "attachments", "cc_emails",
    "custom_fields", "due_by", "email_config_id", "fr_due_by", "group_id", "parent_id", "product_id",
    "source", "tags", "company_id", "internal_agent_id", "internal_group_id", "lookup_parameter",
})
TICKET_UPDATE_FIELDS = TICKET_CREATE_FIELDS - {"cc_emails", "parent_id"}
REPLY_FIELDS = frozenset({"body", "attachments", "from_email", "user_id", "cc_emails", "bcc_emails"})
NOTE_FIELDS = frozenset({"body", "attachments", "incoming", "notify_emails", "private", "user_id"})
CONTACT_FIELDS = frozenset({
    "name", "email", "phone", "mobile", "twitter_id", "unique_external_id", "other_emails", "company_id",
    "view_all_tickets", "other_companies", "address", "avatar", "custom_fields", "description", "job_title",
    "language", "tags", "time_zone", "lookup_parameter",
})


class FreshdeskError(Exception):
    """An API error with Freshdesk's status and body (``None`` body = empty, as a real 404)."""

    def __init__(self, status: int, body: dict[str, Any] | None):
        super().__init__(str(body))
        self.status = status
        self.body = body


def validation(*errors: tuple[str, str, str]) -> FreshdeskError:
    """400 ``Validation failed`` with ``(field, message, code)`` entries."""
    return FreshdeskError(400, {"description": "Validation failed", "errors": [
        {"field": f, "message": m, "code": c} for f, m, c in errors]})


def not_found() -> FreshdeskError:
    return FreshdeskError(404, None)


def unauthorized() -> FreshdeskError:
    return FreshdeskError(401, {"code": "invalid_credentials",
                                "message": "You have to be logged in to perform this action."})


def invalid_json() -> FreshdeskError:
    return FreshdeskError(400, {"description": "Validation failed", "errors": [
        {"code": "invalid_json", "message": "Request body has invalid json format"}]})


def check_fields(data: Any, allowed: Iterable[str]) -> dict[str, Any]:
    """The body as a dict, or 400: not an object, or a key the endpoint does not know (``invalid_field``)."""
    if not isinstance(data, dict):
        raise invalid_json()
    allowed = set(allowed)
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise validation(*((k, "Unexpected/invalid field in request", "invalid_field") for k in unknown))
    return data


def _type_name(value: Any) -> str:
    return {bool: "Boolean", int: "Integer", float: "Number", str: "String", list: "Array",
            dict: "key/value pair"}.get(type(value), "Null")


def integer(data: Mapping[str, Any], name: str, choices: Mapping[int, str] | None = None) -> int | None:
    """``data[name]`` as an int (None if absent or null); 400 if not an integer or not one of ``choices``."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise validation((name, f"Value set is of type {_type_name(value)}.It should be a/an Integer",
                          "datatype_mismatch"))
    if choices is not None and value not in choices:
        allowed = ",".join(str(c) for c in choices)
        raise validation((name, f"It should be one of these values: '{allowed}'", "invalid_value"))
    return value


def string(data: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise validation((name, "It should be a/an String", "missing_field"))
        return None
    if not isinstance(value, str):
        raise validation((name, f"Value set is of type {_type_name(value)}.It should be a/an String",
                          "datatype_mismatch"))
    return value


def boolean(data: Mapping[str, Any], name: str, default: bool) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise validation((name, f"Value set is of type {_type_name(value)}.It should be a/an Boolean",
                          "datatype_mismatch"))
    return value


def tags(data: Mapping[str, Any], name: str = "tags") -> list[str] | None:
    """Tags as given (duplicates dropped, order kept); 400 unless an array of strings ≤ 32 characters."""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise validation((name, f"Value set is of type {_type_name(value)}.It should be a/an Array",
                          "datatype_mismatch"))
    if any(len(t) > MAX_TAG_LENGTH for t in value):
        raise validation((name, f"It should only contain elements that have maximum of {MAX_TAG_LENGTH} "
                          "characters", "invalid_value"))
    out: list[str] = []
    for tag in value:
        if tag.strip() and tag.lower() not in (t.lower() for t in out):
            out.append(tag.strip())
    return out


def ticket_type(data: Mapping[str, Any]) -> str | None:
    value = string(data, "type")
    if value is not None and value not in TYPES:
        raise validation(("type", f"It should be one of these values: '{','.join(TYPES)}'", "invalid_value"))
    return value


def html_to_text(markup: str) -> str:
    """``description_text`` / ``body_text`` from the HTML Freshdesk stores."""
    text = re.sub(r"</div>", "\n", re.sub(r"</p>", "\n\n", re.sub(r"<br\s*/?>", "\n", markup)))
    return re.sub(r"\n{3,}", "\n\n", html.unescape(re.sub(r"<[^>]+>", "", text))).strip()


def text_to_html(text: str) -> str:
    """Plain text as the HTML Freshdesk keeps (API clients may send either)."""
    if re.search(r"<[a-zA-Z][^>]*>", text):
        return text
    paras = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in text.split("\n\n"))
    return f'<div dir="ltr">{paras}</div>'


def public(record: Mapping[str, Any]) -> dict[str, Any]:
    """A stored record without its private ``_`` keys (values copied one level deep)."""
    return {k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
            for k, v in record.items() if not k.startswith("_")}
