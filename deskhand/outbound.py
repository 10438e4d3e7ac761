"""Outbound unified webhooks: a tenant's subscriptions, a durable outbox, and the delivery loop.

- `publish(rt, tenant, type, data, source=…)` writes one outbox row per active endpoint of the
  tenant subscribed to `type`. The row's id is the `webhook-id` of every attempt; it is derived from
  (endpoint, type, source), so publishing the same fact twice (a re-run job) is stored once.
- `Deliverer.run_once()` claims due rows one at a time, each just before it is sent, with a lease
  (a process killed mid-delivery leaves only the row in flight, claimed again once its lease ends:
  at-least-once, same id; the HTTP timeout is a third of the lease, so a live deliverer always
  finishes before another may take the row over), POSTs them signed by the
  Standard Webhooks scheme (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64
  HMAC-SHA256(secret, "id.timestamp.body")>`, secret `whsec_<base64>`), and on failure schedules the
  next attempt by BACKOFF_S. An endpoint failing without a success for DISABLE_AFTER_S is disabled,
  and an `endpoint.disabled` event saying so goes to the tenant's other endpoints that subscribed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import delete, select, update

from deskhand.errors import ConfigError, NotFoundError
from deskhand.runtime import Runtime
from deskhand.store.db import insert_or_skip
from deskhand.store.tables_api import webhook_endpoints as we
from deskhand.store.tables_api import webhook_outbox as wo

log = logging.getLogger(__name__)
EVENT_TYPES = ("ticket.created", "ticket.updated", "comment.created", "ticket.deleted", "decision.made",
               "action.performed", "account.needs_reauth", "endpoint.disabled")
BACKOFF_S = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)  # then the message is dead
DISABLE_AFTER_S = 5 * 24 * 3600.0
LEASE_S = 30.0  # `deskhand worker --webhook-lease-s`; the HTTP timeout is a third of it
BATCH = 50


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def body_of(payload: dict[str, Any]) -> bytes:
    """The same bytes on every attempt (the signature covers them)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


# -- subscriptions --------------------------------------------------------------------------


def create_endpoint(rt: Runtime, tenant_id: str, url: str, events: list[str]) -> tuple[str, str]:
    """A new endpoint: (id, its whsec_ signing secret, shown once; stored encrypted)."""
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown or not events:
        raise ConfigError(f"unknown event type(s) {', '.join(unknown) or '(none given)'}: use any of "
                          f"{', '.join(EVENT_TYPES)}")
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"webhook URL {url!r} must be http(s)://…")
    endpoint_id, secret = "ep_" + secrets.token_hex(8), new_secret()
    with rt.store.transaction() as c:
        c.execute(we.insert().values(
            id=endpoint_id, tenant_id=tenant_id, url=url, events=sorted(set(events)),
            secret_sealed=rt.store.box.seal({"secret": secret}), status="active", created_at=time.time()))
    return endpoint_id, secret


def list_endpoints(rt: Runtime, tenant_id: str) -> list[dict[str, Any]]:
    q = select(we.c.id, we.c.tenant_id, we.c.url, we.c.events, we.c.status, we.c.failing_since,
               we.c.disabled_reason, we.c.created_at).where(we.c.tenant_id == tenant_id).order_by(we.c.created_at)
    with rt.store.engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(q).all()]


def get_endpoint(rt: Runtime, tenant_id: str, endpoint_id: str) -> dict[str, Any]:
    found = [e for e in list_endpoints(rt, tenant_id) if e["id"] == endpoint_id]
    if not found:
        raise NotFoundError(f"no webhook endpoint {endpoint_id!r}")
    return found[0]


def delete_endpoint(rt: Runtime, tenant_id: str, endpoint_id: str) -> None:
    get_endpoint(rt, tenant_id, endpoint_id)
    with rt.store.transaction() as c:
        c.execute(delete(wo).where(wo.c.endpoint_id == endpoint_id, wo.c.status == "pending"))
        c.execute(delete(we).where(we.c.id == endpoint_id, we.c.tenant_id == tenant_id))


def enable_endpoint(rt: Runtime, tenant_id: str, endpoint_id: str) -> None:
    get_endpoint(rt, tenant_id, endpoint_id)
    with rt.store.transaction() as c:
        c.execute(update(we).where(we.c.id == endpoint_id).values(status="active", failing_since=None,
                                                                   disabled_reason=None))


def messages(rt: Runtime, tenant_id: str, endpoint_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    q = select(wo).where(wo.c.tenant_id == tenant_id).order_by(wo.c.created_at.desc(), wo.c.id).limit(limit)
    if endpoint_id:
        q = q.where(wo.c.endpoint_id == endpoint_id)
    with rt.store.engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(q).all()]


# -- publishing -----------------------------------------------------------------------------


def publish(rt: Runtime, tenant_id: str, event_type: str, data: dict[str, Any], *, source: str,
            now: float | None = None, exclude: str | None = None) -> int:
    """Queue `event_type` for every active endpoint of the tenant subscribed to it; returns how many
    rows were new (a repeat of the same `source` adds none)."""
    at = time.time() if now is None else now
    q = select(we.c.id, we.c.events).where(we.c.tenant_id == tenant_id, we.c.status == "active")
    added = 0
    with rt.store.transaction() as c:
        for ep in c.execute(q).all():
            if event_type not in ep.events or ep.id == exclude:
                continue
            msg_id = "msg_" + hashlib.sha256(f"{ep.id}|{event_type}|{source}".encode()).hexdigest()[:26]
            payload = {"type": event_type, "timestamp": datetime.fromtimestamp(at, UTC).isoformat(), "data": data}
            row = c.execute(insert_or_skip(c, wo, "id", returning=wo.c.id), {
                "id": msg_id, "endpoint_id": ep.id, "tenant_id": tenant_id, "event_type": event_type,
                "payload": payload, "status": "pending", "attempts": 0, "next_at": at, "created_at": at}).first()
            added += row is not None
    return added


def publish_safely(rt: Runtime, tenant_id: str, event_type: str, data: dict[str, Any], *, source: str) -> None:
    """`publish` for callers whose own work must not fail because of it (the responder): a failure is
    logged with what was lost, never raised."""
    try:
        publish(rt, tenant_id, event_type, data, source=source)
    except Exception as exc:  # a lost notification must not fail the decision that caused it
        log.error("outbound webhook %s (%s) for tenant %s not queued: %s", event_type, source, tenant_id, exc)


# -- delivery -------------------------------------------------------------------------------


class Deliverer:
    """Sends due outbox rows. `clock` and `http` are injectable (tests); one instance per loop.
    `lease_s`: how long a claimed row stays this deliverer's (the default HTTP client times out after
    a third of it)."""

    def __init__(self, rt: Runtime, *, http: httpx.Client | None = None, clock: Callable[[], float] = time.time,
                 backoff_s: tuple[float, ...] = BACKOFF_S, disable_after_s: float = DISABLE_AFTER_S,
                 owner: str | None = None, lease_s: float = LEASE_S) -> None:
        self.rt, self.clock, self.backoff_s, self.disable_after_s = rt, clock, backoff_s, disable_after_s
        self.lease_s = lease_s
        self.http = http or httpx.Client(timeout=lease_s / 3, follow_redirects=False)
        self.owner = owner or f"deliverer-{secrets.token_hex(4)}"

    def claim(self, limit: int = 1) -> list[dict[str, Any]]:
        """Due rows, each leased to this deliverer (a compare-and-set per row: safe across processes).
        `run_once` takes one at a time, right before sending it, so a crash strands only that one."""
        now = self.clock()
        due = (select(wo).where(wo.c.status == "pending", wo.c.next_at <= now)
               .where((wo.c.lease_until.is_(None)) | (wo.c.lease_until < now)).order_by(wo.c.next_at).limit(limit))
        taken = []
        with self.rt.store.engine.connect() as c:
            rows = [dict(r._mapping) for r in c.execute(due).all()]
        for row in rows:
            with self.rt.store.transaction() as c:
                got = c.execute(update(wo).where(wo.c.id == row["id"], wo.c.status == "pending", (
                    wo.c.lease_until.is_(None)) | (wo.c.lease_until < now)).values(lease_until=now + self.lease_s))
            if got.rowcount == 1:
                taken.append(row)
        return taken

    def run_once(self) -> dict[str, int]:
        """Deliver what is due now; counts of delivered / failed / dead."""
        stats = {"delivered": 0, "failed": 0, "dead": 0}
        for _ in range(BATCH):
            taken = self.claim()
            if not taken:
                break
            stats[self.deliver(taken[0])] += 1
        return stats

    def deliver(self, row: dict[str, Any]) -> str:
        with self.rt.store.engine.connect() as c:
            ep = c.execute(select(we).where(we.c.id == row["endpoint_id"])).first()
        if ep is None or ep.status != "active":
            self._finish(row, status="dead", error="endpoint deleted or disabled")
            return "dead"
        secret = self.rt.store.box.unseal(ep.secret_sealed)["secret"]
        body, stamp = body_of(row["payload"]), int(self.clock())
        headers = {"content-type": "application/json", "webhook-id": row["id"], "webhook-timestamp": str(stamp),
                   "webhook-signature": sign(secret, row["id"], stamp, body), "user-agent": "deskhand-webhooks"}
        status: int | None = None
        try:
            answer = self.http.post(ep.url, content=body, headers=headers)
            status = answer.status_code
            ok, error = answer.is_success, f"HTTP {answer.status_code}"
        except httpx.HTTPError as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"[:500]
        if ok:
            self._finish(row, status="delivered", code=status)
            with self.rt.store.transaction() as c:
                c.execute(update(we).where(we.c.id == ep.id).values(failing_since=None))
            return "delivered"
        return self._failed(row, ep, status, error)

    def _failed(self, row: dict[str, Any], ep: Any, status: int | None, error: str) -> str:
        now, attempts = self.clock(), row["attempts"] + 1
        failing_since = ep.failing_since if ep.failing_since is not None else now
        with self.rt.store.transaction() as c:
            c.execute(update(we).where(we.c.id == ep.id, we.c.failing_since.is_(None)).values(failing_since=now))
        if now - failing_since >= self.disable_after_s:
            self._disable(ep, f"no successful delivery for {(now - failing_since) / 3600:.1f} h (last: {error})")
        if attempts > len(self.backoff_s):
            self._finish(row, status="dead", code=status, error=error, attempts=attempts)
            return "dead"
        with self.rt.store.transaction() as c:
            c.execute(update(wo).where(wo.c.id == row["id"]).values(
                attempts=attempts, next_at=now + self.backoff_s[attempts - 1], lease_until=None, last_status=status,
                last_error=error))
        log.info("outbound webhook %s to %s failed (attempt %d): %s", row["id"], ep.id, attempts, error)
        return "failed"

    def _disable(self, ep: Any, reason: str) -> None:
        with self.rt.store.transaction() as c:
            changed = c.execute(update(we).where(we.c.id == ep.id, we.c.status == "active").values(
                status="disabled", disabled_reason=reason)).rowcount
        if changed:
            log.warning("outbound webhook endpoint %s disabled: %s", ep.id, reason)
            publish(self.rt, ep.tenant_id, "endpoint.disabled", {"endpoint_id": ep.id, "url": ep.url,
                                                                  "reason": reason},
                    source=f"disabled:{ep.id}:{int(self.clock())}", now=self.clock(), exclude=ep.id)

    def _finish(self, row: dict[str, Any], *, status: str, code: int | None = None, error: str | None = None,
                attempts: int | None = None) -> None:
        with self.rt.store.transaction() as c:
            c.execute(update(wo).where(wo.c.id == row["id"]).values(
                status=status, lease_until=None, last_status=code, last_error=error,
                attempts=attempts if attempts is not None else row["attempts"] + 1,
                delivered_at=self.clock() if status == "delivered" else None))

    def close(self) -> None:
        self.http.close()


def start_delivery_loop(rt: Runtime, stop: threading.Event, interval_s: float = 1.0,
                        lease_s: float = LEASE_S) -> threading.Thread:
    """The delivery loop as a daemon thread (the gateway's lifespan starts one with its workers)."""

    def run() -> None:
        deliverer = Deliverer(rt, lease_s=lease_s)
        try:
            while not stop.is_set():
                try:
                    deliverer.run_once()
                except Exception as exc:  # the store restarting: keep the loop, say so, try again
                    log.error("outbound webhook delivery round failed: %s", exc)
                stop.wait(interval_s)
        finally:
            deliverer.close()

    thread = threading.Thread(target=run, name="deskhand-outbound-webhooks", daemon=True)
    thread.start()
    return thread


# -- what the responder tells (one call at each place a fact becomes durable) -------------------

EVENT_TYPE_OF = {"ticket_created": "ticket.created", "ticket_updated": "ticket.updated",
                 "comment_added": "comment.created", "ticket_deleted": "ticket.deleted"}


def event_recorded(rt: Runtime, tenant_id: str, event_id: int, ev: Any) -> None:
    """A helpdesk event (stored by the gateway) as a unified webhook."""
    kind = getattr(ev.kind, "value", str(ev.kind))
    publish_safely(rt, tenant_id, EVENT_TYPE_OF.get(kind, f"ticket.{kind}"), {
        "account": ev.account, "provider": ev.provider, "ticket_id": f"{ev.account}:{ev.ticket_id}",
        "remote_id": ev.ticket_id, "comment_id": ev.comment_id,
        "occurred_at": ev.occurred_at.isoformat() if ev.occurred_at else None}, source=f"event:{event_id}")


def decision_made(rt: Runtime, tenant_id: str, decision_id: int, account: str, ticket_id: str, decision: Any) -> None:
    """A decision that acts (or drafts, or hands over); `ignore` (our own echoes, duplicates) is not told."""
    if decision.route.value == "ignore":
        return
    publish_safely(rt, tenant_id, "decision.made", {
        "decision_id": decision_id, "account": account, "ticket_id": f"{account}:{ticket_id}",
        "route": decision.route.value, "category": decision.triage.category if decision.triage else None,
        "confidence": decision.confidence}, source=f"decision:{decision_id}")


def action_performed(rt: Runtime, tenant_id: str, account: str, ticket_id: str, kind: str, key: str,
                     result: dict[str, Any]) -> None:
    publish_safely(rt, tenant_id, "action.performed", {
        "account": account, "ticket_id": f"{account}:{ticket_id}", "action": kind, "key": key,
        "result": result}, source=f"action:{key}")


def needs_reauth(rt: Runtime, tenant_id: str, account: str, provider: str, detail: str) -> None:
    day = datetime.now(UTC).strftime("%Y-%m-%d")  # at most one a day per account
    publish_safely(rt, tenant_id, "account.needs_reauth", {
        "account": account, "provider": provider, "detail": detail[:500],
        "fix": f"deskhand connect {provider} --name {account} …"}, source=f"reauth:{account}:{day}")
