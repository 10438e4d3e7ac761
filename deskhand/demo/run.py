"""`deskhand demo`: everything on loopback with temporary storage, then a report read back from the helpdesk."""

from __future__ import annotations

import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from rich.console import Console
from rich.table import Table

from deskhand.demo.scenario import KB_DIR, TICKETS
from deskhand.model import DEFAULT_TENANT, Route
from deskhand.settings import Settings

ACCOUNT = "demo"
API_EMAIL = "deskhand@acme.example"
INTAKE_EMAIL = "intake@acme.example"  # the channel customers write through (a separate API user)


def run_demo(*, timeout_s: float = 120.0, progress: Console | None = None) -> dict[str, Any]:
    from deskhand.gateway.app import create_app
    from deskhand.knowledge import add_folder
    from deskhand.responder.modes import set_mode
    from deskhand.providers import open_connector
    from deskhand.runtime import Runtime
    from deskhand.sim import zendesk
    from deskhand.sim.base import SimServer
    from deskhand.store import Store

    def say(msg: str) -> None:
        if progress:
            progress.print(f"[dim]demo:[/dim] {msg}")

    with tempfile.TemporaryDirectory(prefix="deskhand-demo-") as tmp:
        settings = Settings(
            database_url=f"sqlite:///{Path(tmp) / 'deskhand.db'}", secret_key=Fernet.generate_key().decode()
        )
        rt = Runtime(Store.open(settings), settings)
        gateway = SimServer(create_app(rt, workers=2), lifespan="on").start()
        secret = secrets.token_urlsafe(24)
        sim = zendesk.start(webhook_url=f"{gateway.url}/webhooks/zendesk/{ACCOUNT}", webhook_secret=secret)
        try:
            say(f"local Zendesk at {sim.url}, deskhand gateway at {gateway.url}")
            config = {
                "subdomain": "acme",
                "email": API_EMAIL,
                "api_token": "deskhand-sim-token",
                "base_url": sim.url,
                "webhook_secret": secret,
            }
            rt.store.save_account(ACCOUNT, "zendesk", config, tenant_id=DEFAULT_TENANT)
            set_mode(rt.store, ACCOUNT, "auto", actor="demo", reason="the demo shows automatic replies")
            kb = add_folder(rt.store, DEFAULT_TENANT, KB_DIR)
            say(f"knowledge base: {len(kb.added)} articles, {kb.chunks} chunks")
            rt.triage("warm up")  # load the models before the clock starts
            customer = open_connector("zendesk", "customer", {**config, "email": INTAKE_EMAIL})
            created = []
            for t in TICKETS:
                ticket = customer.create_ticket(
                    subject=t.subject, body=t.body, requester_name=t.name, requester_email=t.email
                )
                created.append((ticket.id, t))
            say(f"created {len(created)} tickets through the Zendesk API; waiting for deskhand")
            started = time.monotonic()
            decided = _wait(rt, [tid for tid, _ in created], deadline=started + timeout_s)
            elapsed = time.monotonic() - started
            rows = [_row(rt, customer, tid, t, decided.get(tid)) for tid, t in created]
            customer.close()
        finally:
            sim.stop()
            gateway.stop()
            rt.close()
    unhandled = sum(1 for r in rows if r["route"] is None)
    routes = {
        route.value: sum(1 for r in rows if r["route"] == route.value)
        for route in (Route.AUTO_REPLY, Route.DRAFT, Route.HUMAN)
    }
    return {"tickets": rows, "unhandled": unhandled, "routes": routes, "seconds": round(elapsed, 2)}


def _wait(rt: Any, ticket_ids: list[str], *, deadline: float) -> dict[str, dict[str, Any]]:
    """Decisions (of ticket_created events) whose actions have all been performed, by ticket id."""
    done: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline and len(done) < len(ticket_ids):
        for d in rt.store.list_decisions(account=ACCOUNT, limit=500):
            if d["ticket_id"] in done or d["route"] == Route.IGNORE.value:
                continue
            actions = rt.store.actions_for(d["id"])
            if all(a.status in ("done", "failed") for a in actions):
                done[d["ticket_id"]] = d
        time.sleep(0.2)
    return done


def _row(rt: Any, customer: Any, ticket_id: str, t: Any, d: dict[str, Any] | None) -> dict[str, Any]:
    ticket = customer.get_ticket(ticket_id, with_comments=True)
    ours = [
        c for c in ticket.comments[1:] if c.author_id != (ticket.requester.id if ticket.requester else None)
    ]
    last = ours[-1] if ours else None
    return {
        "provider": "zendesk",
        "id": ticket_id,
        "subject": t.subject,
        "expected": t.expect,
        "route": d["route"] if d else None,
        "category": d["category"] if d else None,
        "urgency": d["urgency"] if d else None,
        "confidence": round(d["confidence"], 3) if d else None,
        "rules": d["rules"] if d else [],
        "reasons": d["reasons"] if d else [],
        "comment_visibility": last.visibility.value if last else None,
        "reply_excerpt": (d["reply"] or "")[:160] if d and d["route"] == Route.AUTO_REPLY.value else None,
        "final_status": ticket.raw_status,
        "tags": list(ticket.tags),
        "team_id": ticket.team_id,
        "decision_id": d["id"] if d else None,
    }


def print_report(report: dict[str, Any], console: Console) -> None:
    table = Table("ticket", "subject", "category", "urgency", "conf", "route", "rules", "status", "comment")
    colour = {"auto_reply": "green", "draft": "yellow", "human": "red"}
    for r in report["tickets"]:
        route = r["route"] or "UNHANDLED"
        table.add_row(
            r["id"],
            r["subject"][:34],
            r["category"] or "",
            r["urgency"] or "",
            f"{r['confidence']:.2f}" if r["confidence"] is not None else "",
            f"[{colour.get(route, 'magenta')}]{route}[/]",
            ",".join(r["rules"]),
            r["final_status"],
            r["comment_visibility"] or "",
        )
    console.print(table)
    for r in report["tickets"]:
        if r["reply_excerpt"]:
            console.print(
                f"[green]#{r['id']} auto-reply:[/green] " + r["reply_excerpt"].replace("\n", " ") + "…"
            )
    rs = report["routes"]
    console.print(
        f"\n{len(report['tickets'])} tickets in {report['seconds']} s: {rs['auto_reply']} answered, "
        f"{rs['draft']} drafted for review, {rs['human']} routed to humans, {report['unhandled']} unhandled."
    )
