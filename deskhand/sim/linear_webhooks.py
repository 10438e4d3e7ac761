"""Linear webhooks in the simulator (FACTS.md §3.5).

Each enabled webhook (``webhookCreate``, or the one ``create_app`` is given) whose resource types and
team match a change receives ``{"action", "type", "actor", "createdAt", "data", "url",
"updatedFrom"?, "organizationId", "webhookTimestamp", "webhookId"}`` with ``Linear-Signature`` (hex
HMAC-SHA256 of the raw body with the webhook's secret), ``Linear-Delivery`` (one uuid per delivery,
the same on retries), ``Linear-Event`` (the type) and ``User-Agent: Linear-Webhook``. A delivery
answered with anything but 2xx (or not at all) is retried after 1 minute, 1 hour and 6 hours
(``retry_scale`` shrinks them for tests); every attempt carries its own ``webhookTimestamp`` (ms)
and so its own signature, as a receiver checks the timestamp within 60 s.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from deskhand.sim.base import Invocation, WebhookDelivery

if TYPE_CHECKING:
    from deskhand.sim.linear_state import LinearState, Record

RETRY_DELAYS_S = (60.0, 3600.0, 21600.0)


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def stamp(payload: dict[str, Any], secret: str, now_ms: int) -> tuple[bytes, dict[str, str]]:
    """The body of one attempt (its webhookTimestamp set) and its signature header."""
    body = json.dumps({**payload, "webhookTimestamp": now_ms}, separators=(",", ":")).encode()
    return body, {"linear-signature": sign(body, secret)}


class LinearDelivery(WebhookDelivery):
    """Linear's retries: any non-2xx or no answer, after 1 min, 1 h, 6 h; re-stamped and re-signed per attempt."""

    def __init__(self, clock_ms: Callable[[], int], retry_scale: float = 1.0) -> None:
        def policy(status: int | None, headers: Mapping[str, str], attempt: int, **_kw: Any) -> float | None:
            if status is not None and 200 <= status < 300:
                return None
            return RETRY_DELAYS_S[attempt - 1] * retry_scale if attempt <= len(RETRY_DELAYS_S) else None

        super().__init__(max_attempts=len(RETRY_DELAYS_S) + 1, retry_policy=policy)
        self.clock_ms = clock_ms
        self.payloads: dict[int, tuple[dict[str, Any], str]] = {}

    def send_payload(self, url: str, payload: dict[str, Any], secret: str, headers: Mapping[str, str]) -> Invocation:
        body, signed = stamp(payload, secret, self.clock_ms())
        inv = self.send(url, body, {**headers, **signed})
        self.payloads[inv.id] = (payload, secret)
        return inv

    def _attempt(self, inv: Invocation) -> None:
        known = self.payloads.get(inv.id)
        if known is not None and inv.attempts:
            inv.body, signed = stamp(known[0], known[1], self.clock_ms())
            inv.headers = {**inv.headers, **signed}
        super()._attempt(inv)


def issue_data(state: LinearState, issue: Record) -> dict[str, Any]:
    """An Issue as Linear's webhook ``data`` shows it (ids plus the state, team, labels, assignee). As in
    the recorded deliveries (tests/data/captures/linear), empty fields are left out rather than null, and
    a trashed issue says ``"trashed": true`` beside its ``archivedAt``."""
    wf, team = state.states[issue["stateId"]], state.teams[issue["teamId"]]
    data = {k: v for k, v in issue.items() if v is not None and (k != "trashed" or v is True)}
    data["state"] = {k: wf[k] for k in ("id", "color", "name", "type")}
    data["team"] = {k: team[k] for k in ("id", "key", "name")}
    data["labels"] = [{k: state.labels[x][k] for k in ("id", "color", "name")} for x in issue["labelIds"]]
    if issue.get("assigneeId"):
        user = state.users[issue["assigneeId"]]
        data["assignee"] = {"id": user["id"], "name": user["name"], "email": user["email"]}
    return data


def comment_data(state: LinearState, comment: Record) -> dict[str, Any]:
    issue, user = state.issues[comment["issueId"]], state.users[comment["userId"]]
    present = {k: v for k, v in comment.items() if v is not None}  # no nulls, as in real deliveries
    return {**present, "issue": {"id": issue["id"], "title": issue["title"], "identifier": issue["identifier"],
                                 "teamId": issue["teamId"]},
            "user": {"id": user["id"], "name": user["name"]}}


class Dispatcher:
    """A state listener sending each change to the webhooks that ask for it."""

    def __init__(self, state: LinearState, sender: LinearDelivery) -> None:
        self.state, self.sender = state, sender
        state.listeners.append(self)

    def __call__(self, action: str, kind: str, record: Record, before: Record | None, actor: Record) -> None:
        state = self.state
        if kind == "Issue":
            data, team_id, url = issue_data(state, record), record["teamId"], record["url"]
        else:
            data, url = comment_data(state, record), record["url"]
            team_id = state.issues[record["issueId"]]["teamId"]
        for hook in list(state.webhooks.values()):
            if not hook["enabled"] or kind not in hook["resourceTypes"]:
                continue
            if not hook["allPublicTeams"] and hook["teamId"] != team_id:
                continue
            payload: dict[str, Any] = {
                "action": action, "type": kind,
                "actor": {"id": actor["id"], "name": actor["name"], "email": actor["email"], "type": "user"},
                "createdAt": record["updatedAt"], "data": data, "url": url,
                "organizationId": state.org["id"], "webhookId": hook["id"]}
            if before is not None:
                payload["updatedFrom"] = before
            self.sender.send_payload(hook["url"], payload, hook["secret"], {
                "content-type": "application/json; charset=utf-8", "user-agent": "Linear-Webhook",
                "linear-delivery": str(uuid.uuid4()), "linear-event": kind})
