"""`deskhand demo`: every registered simulator (deskhand.sim.registry) side by side, deskhand in
front of them all, on loopback with temporary storage; the report is read back from the helpdesks."""

from __future__ import annotations

import secrets
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from rich.console import Console
from rich.table import Table

from deskhand.demo.scenario import KB_DIR, TICKETS, DemoTicket
from deskhand.model import DEFAULT_TENANT, Route
from deskhand.settings import Settings


@dataclass
class Desk:
    """One connected helpdesk of the demo: its account, and a connector acting as the customer side."""

    provider: str
    account: str
    customer: Any  # a Connector authenticated as the customer side
    names_requester: bool  # True: the intake names the requester; False: the customer raises it as itself

    def customer_args_for(self, t: DemoTicket) -> dict[str, str]:
        return {"requester_name": t.name, "requester_email": t.email} if self.names_requester else {}


def run_demo(*, timeout_s: float = 120.0, progress: Console | None = None) -> dict[str, Any]:
    from deskhand.gateway.app import create_app
    from deskhand.knowledge import add_folder
    from deskhand.runtime import Runtime
    from deskhand.sim import registry
    from deskhand.sim.base import SimServer
    from deskhand.store import Store

    def say(msg: str) -> None:
        if progress:
            progress.print(f"[dim]demo:[/dim] {msg}")

    with tempfile.TemporaryDirectory(prefix="deskhand-demo-") as tmp, ExitStack() as stack:
        settings = Settings(
            database_url=f"sqlite:///{Path(tmp) / 'deskhand.db'}", secret_key=Fernet.generate_key().decode()
        )
        rt = Runtime(Store.open(settings), settings)
        stack.callback(rt.close)
        gateway = SimServer(create_app(rt, workers=2), lifespan="on").start()
        stack.callback(gateway.stop)
        desks = [_desk(rt, slug, gateway.url, stack) for slug in registry.slugs()]
        stack.callback(gateway.stop)  # workers stop before the helpdesks they talk to (idempotent)
        say(f"deskhand gateway at {gateway.url}; " + ", ".join(f"{d.provider} account {d.account!r}" for d in desks))
        kb = add_folder(rt.store, DEFAULT_TENANT, KB_DIR)
        say(f"knowledge base: {len(kb.added)} articles, {kb.chunks} chunks")
        rt.triage("warm up")  # load the models before the clock starts
        created: list[tuple[Desk, str, DemoTicket]] = []
        for i, t in enumerate(TICKETS):
            desk = desks[i % len(desks)]
            ticket = desk.customer.create_ticket(subject=t.subject, body=t.body, **desk.customer_args_for(t))
            created.append((desk, ticket.id, t))
        say(f"created {len(created)} tickets through the helpdesks' APIs; waiting for deskhand")
        started = time.monotonic()
        wanted = [(d.account, tid) for d, tid, _ in created]
        decided = _wait(rt, wanted, deadline=started + timeout_s)
        elapsed = time.monotonic() - started
        rows = [_row(rt, d, tid, t, decided.get((d.account, tid))) for d, tid, t in created]
    unhandled = sum(1 for r in rows if r["route"] is None)
    routes = {
        route.value: sum(1 for r in rows if r["route"] == route.value)
        for route in (Route.AUTO_REPLY, Route.DRAFT, Route.HUMAN)
    }
    llm_failures = sum(r["llm_failures"] for r in rows)
    llm_calls = sum(r["llm_calls"] for r in rows)
    return {"tickets": rows, "unhandled": unhandled, "routes": routes, "seconds": round(elapsed, 2),
            "llm": {"calls": llm_calls, "failures": llm_failures,
                    "errors": sorted({e for r in rows for e in r["llm_errors"]})}}


def _connect(rt: Any, provider: str, account: str, config: dict[str, str],
             overrides: dict[str, Any] | None = None) -> None:
    from deskhand.responder.modes import set_mode

    rt.store.save_account(account, provider, config, tenant_id=DEFAULT_TENANT, overrides=overrides)
    # New accounts start in draft mode; the demo shows the whole range, automatic replies included.
    set_mode(rt.store, account, "auto", actor="demo", reason="the demo shows automatic replies")


def _desk(rt: Any, slug: str, gateway_url: str, stack: ExitStack) -> Desk:
    """Start the simulator of `slug`, connect an account ``acme-<slug>`` to it, and open its customer side."""
    from deskhand.providers import open_connector
    from deskhand.sim import registry

    spec = registry.get(slug)
    account = f"acme-{slug}"
    secret = secrets.token_urlsafe(24)
    sim = spec.start(registry.SimConfig(webhook_url=f"{gateway_url}/webhooks/{slug}/{account}", webhook_secret=secret))
    stack.callback(sim.stop)
    config = spec.connect_to(sim)
    _connect(rt, slug, account, config, spec.overrides_to(sim))
    customer = open_connector(slug, "customer", spec.customer(config), overrides=spec.overrides_to(sim))
    stack.callback(customer.close)
    return Desk(slug, account, customer, names_requester=spec.names_requester)


def _wait(rt: Any, wanted: list[tuple[str, str]], *, deadline: float) -> dict[tuple[str, str], dict[str, Any]]:
    """Decisions (of the tickets' first customer message) whose actions all ran, by (account, ticket)."""
    done: dict[tuple[str, str], dict[str, Any]] = {}
    targets = set(wanted)
    while time.monotonic() < deadline and len(done) < len(targets):
        for d in rt.store.list_decisions(limit=1000):
            key = (d["account"], d["ticket_id"])
            if key in done or key not in targets or d["route"] == Route.IGNORE.value:
                continue
            if all(a.status in ("done", "failed") for a in rt.store.actions_for(d["id"])):
                done[key] = d
        time.sleep(0.2)
    return done


def _row(rt: Any, desk: Desk, ticket_id: str, t: DemoTicket, d: dict[str, Any] | None) -> dict[str, Any]:
    ticket = desk.customer.get_ticket(ticket_id, with_comments=True)
    own = rt.identity(rt.store.get_account(desk.account)).own_id
    ours = [c for c in ticket.comments if c.author_id == own and c.body.strip() != ticket.description.strip()]
    last = ours[-1] if ours else None
    return {
        "provider": desk.provider,
        "account": desk.account,
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
        "final_status": ticket.raw_status,  # the provider's own (a Trello list's id, ServiceNow's "3")
        "status": ticket.status.value,  # what the report shows: the unified status
        "tags": list(ticket.tags),
        "team_id": ticket.team_id,
        "assignee_id": ticket.assignee_id,
        "decision_id": d["id"] if d else None,
        **_llm_figures(d),
    }


def _llm_figures(d: dict[str, Any] | None) -> dict[str, Any]:
    """LLM calls made and failed for one decision (from its evidence), and the failures' causes."""
    usage = ((d or {}).get("evidence") or {}).get("llm", {}).get("usage", [])
    errors = [str(u["error"])[:200] for u in usage if "error" in u]
    return {"llm_calls": len(usage), "llm_failures": len(errors), "llm_errors": errors}


WIDE = 120  # below this many columns the demo prints one block per ticket instead of a table


def print_report(report: dict[str, Any], console: Console) -> None:
    if console.width < WIDE:
        _print_list(report, console)
    else:
        _print_table(report, console)
    rs = report["routes"]
    console.print(
        f"\n{len(report['tickets'])} tickets in {report['seconds']} s: {rs['auto_reply']} answered, "
        f"{rs['draft']} drafted for review, {rs['human']} routed to humans, {report['unhandled']} unhandled."
    )
    llm = report.get("llm") or {}
    if llm.get("calls"):
        stood_in = " (the offline model and responder stood in)" if llm["failures"] else ""
        console.print(f"LLM: {llm['calls']} task(s), {llm['failures']} failed{stood_in}", highlight=False)
        for error in llm.get("errors", [])[:5]:
            console.print(f"  [red]LLM failure:[/red] {error}", highlight=False, soft_wrap=True)


COLOUR = {"auto_reply": "green", "draft": "yellow", "human": "red"}


def _print_list(report: dict[str, Any], console: Console) -> None:
    """A narrow terminal: two short lines per ticket (and its reply's opening, when answered)."""
    for r in report["tickets"]:
        route = r["route"] or "UNHANDLED"
        conf = f" {r['confidence']:.2f}" if r["confidence"] is not None else ""
        console.print(f"[bold]{r['provider']} {r['id']}[/bold] [{COLOUR.get(route, 'magenta')}]{route}[/]  "
                      f"{r['category'] or '-'}/{r['urgency'] or '-'}{conf}  → {r['status']}"
                      f"{' (' + r['comment_visibility'] + ')' if r['comment_visibility'] else ''}", highlight=False)
        console.print(f"  {r['subject'][: max(20, console.width - 4)]}", highlight=False)
        if r["rules"]:
            console.print(f"  rules: {', '.join(r['rules'])}", highlight=False)
        if r["reply_excerpt"]:
            excerpt = r["reply_excerpt"].replace("\n", " ")[: max(20, console.width - 12)]
            console.print(f"  [green]reply:[/green] {excerpt}…", highlight=False)


def _print_table(report: dict[str, Any], console: Console) -> None:
    table = Table("desk", "ticket", "subject", "category", "urg.", "conf", "route", "rules", "status", "comment")
    colour = COLOUR
    for r in report["tickets"]:
        route = r["route"] or "UNHANDLED"
        table.add_row(
            r["provider"],
            r["id"],
            r["subject"][:30],
            r["category"] or "",
            r["urgency"] or "",
            f"{r['confidence']:.2f}" if r["confidence"] is not None else "",
            f"[{colour.get(route, 'magenta')}]{route}[/]",
            ",".join(r["rules"]),
            r["status"],
            r["comment_visibility"] or "",
        )
    console.print(table)
    for r in report["tickets"]:
        if r["reply_excerpt"]:
            excerpt = r["reply_excerpt"].replace("\n", " ")
            console.print(f"[green]{r['provider']} {r['id']} auto-reply:[/green] {excerpt}…")
