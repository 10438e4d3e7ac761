"""Webhooks of the ServiceNow simulator: exactly what deskhand's business rule sends (OUR scheme).

ServiceNow has no native signed webhooks (FACTS.md §5.5). deskhand's README ships an *after
insert/update/delete* business rule on ``incident`` that POSTs this JSON body (:func:`body`)::

    {"delivery_id": "<32 hex>", "sent_at": <unix seconds>, "instance": "acme", "table": "incident",
     "event": "created" | "updated" | "commented" | "deleted", "operation": "insert" | "update" | "delete",
     "sys_id": "...", "number": "INC0010001", "short_description": "...", "state": "2",
     "sys_updated_on": "2026-01-01 10:00:00", "sys_updated_by": "admin", "user_sys_id": "<gs.getUserID()>",
     "changed_fields": ["state", ...],
     "journal": {"element": "comments" | "work_notes", "sys_id": "...", "sys_created_by": "..."} | null}

with ``X-Deskhand-Signature: base64(HMAC-SHA256(secret, body))`` (what the script computes with
``GlideCertificateEncryption.generateMac``), or, in ``basic`` mode, ``Authorization: Basic`` with the
secret as the password. The script sends each change once (``executeAsync``; nothing re-sends a
failed delivery, so deskhand's sync is what catches a lost one) — the simulator does the same.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

from deskhand.sim.base import WebhookDelivery
from deskhand.sim.servicenow_state import Record, ServiceNowState

SIGNATURE_HEADER = "X-Deskhand-Signature"
EVENTS = {"insert": "created", "update": "updated", "delete": "deleted"}


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode("ascii")


def body(state: ServiceNowState, operation: str, row: Record, changed: list[str], journal: Record | None,
         *, delivery_id: str | None = None, sent_at: int | None = None) -> bytes:
    event = "commented" if operation == "update" and journal is not None else EVENTS[operation]
    author = state.user(journal["sys_created_by"] if journal else row["sys_updated_by"])
    payload: dict[str, Any] = {
        "delivery_id": delivery_id or uuid.uuid4().hex,
        "sent_at": int(state.clock()) if sent_at is None else sent_at,
        "instance": state.instance, "table": "incident", "event": event, "operation": operation,
        "sys_id": row["sys_id"], "number": row["number"], "short_description": row["short_description"],
        "state": row["state"],
        "sys_updated_on": row["sys_updated_on"], "sys_updated_by": row["sys_updated_by"],
        "user_sys_id": author["sys_id"] if author else "", "changed_fields": changed,
        "journal": ({"element": journal["element"], "sys_id": journal["sys_id"],
                     "sys_created_by": journal["sys_created_by"]} if journal else None),
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def headers(secret: str, data: bytes, mode: str = "hmac") -> dict[str, str]:
    """The headers of one delivery: the HMAC signature, or Basic auth with the secret (``mode``)."""
    out = {"Content-Type": "application/json", "User-Agent": "ServiceNow/1.0"}
    if mode == "basic":
        out["Authorization"] = "Basic " + base64.b64encode(f"servicenow:{secret}".encode()).decode("ascii")
    else:
        out[SIGNATURE_HEADER] = sign(secret, data)
    return out


class BusinessRule:
    """The README's business rule, running on the simulator: one delivery per incident change."""

    def __init__(self, state: ServiceNowState, url: str, secret: str, *, mode: str = "hmac",
                 delivery: WebhookDelivery | None = None):
        if mode not in ("hmac", "basic"):
            raise ValueError(f"unknown webhook mode {mode!r}: hmac or basic")
        self.state, self.url, self.secret, self.mode = state, url, secret, mode
        self.delivery = delivery or WebhookDelivery(max_attempts=1)
        state.listeners.append(self)

    def __call__(self, operation: str, row: Record, changed: list[str], journal: Record | None) -> None:
        data = body(self.state, operation, row, changed, journal)
        self.delivery.send(self.url, data, headers(self.secret, data, self.mode))
