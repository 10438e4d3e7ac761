"""`deskhand review list|show|approve|reject`: the review queue (deskhand.responder.review)."""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer
from rich.table import Table

from deskhand.cli.apps import JsonOpt, app, out
from deskhand.cli.core import fail, print_json, runtime
from deskhand.errors import DeskhandError

review_app = typer.Typer(help="Drafts waiting for a human: list, show, approve (post), reject.", no_args_is_help=True)
app.add_typer(review_app, name="review")
Tenant = Annotated[str | None, typer.Option(help="Only this tenant's drafts (default: every tenant).")]


def _reviewer() -> str:
    return f"cli:{getpass.getuser()}"


@review_app.command("list")
def review_list(tenant: Tenant = None, account: str | None = None, limit: int = 50, as_json: JsonOpt = False) -> None:
    """Drafts waiting for a verdict, newest first."""
    from deskhand.responder.review import pending

    rows = pending(runtime(), tenant, account=account, limit=max(1, min(limit, 500)))
    if as_json:
        print_json({"drafts": [_brief(r) for r in rows]})
        return
    table = Table("decision", "account", "ticket", "category", "conf", "subject")
    for r in rows:
        b = _brief(r)
        table.add_row(str(b["decision_id"]), b["account"], b["ticket_id"], b["category"] or "",
                      f"{b['confidence']:.2f}", (b["subject"] or "")[:60])
    out.print(table)


def _brief(r: dict[str, Any]) -> dict[str, Any]:
    return {"decision_id": r["id"], "account": r["account"], "ticket_id": r["ticket_id"], "category": r["category"],
            "confidence": r["confidence"], "subject": (r["evidence"] or {}).get("ticket_subject"),
            "created_at": str(r["created_at"])}


@review_app.command("show")
def review_show(decision_id: int, tenant: Tenant = None, as_json: JsonOpt = False) -> None:
    """One draft with its evidence (sources, triage, guardrails) and verdict."""
    from deskhand.responder.review import show

    try:
        d = show(runtime(), tenant, decision_id)
    except DeskhandError as exc:
        raise fail(exc) from exc
    if as_json:
        print_json(d)
        return
    ev = d["evidence"] or {}
    out.print(f"[bold]draft {d['id']}[/bold]  account {d['account']}  ticket {d['ticket_id']}  "
              f"category {d['category']}  confidence {d['confidence']:.2f}  outcome {d['outcome']}")
    out.print(f"subject: {ev.get('ticket_subject', '')}")
    for reason in d["reasons"]:
        out.print(f"  why: {reason}")
    for s in ev.get("sources", []):
        out.print(f"  source: {s.get('title')} ({s.get('id')}) {s.get('score', 0):.2f}")
    if ev.get("guardrails"):
        out.print(f"  guardrails: {ev['guardrails']}")
    out.print("proposed reply:\n" + (d["reply"] or ""))
    if d["verdict"]:
        out.print(f"verdict: {d['verdict']['verdict']} by {d['verdict']['reviewer']}")


@review_app.command("approve")
def review_approve(
    decision_id: int,
    tenant: Tenant = None,
    body: Annotated[str | None, typer.Option(help="Post this text instead of the draft (an edit).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Post the draft (or --body, its edit) as the public reply, once."""
    from deskhand.responder.review import approve

    try:
        v = approve(runtime(), tenant, decision_id, reviewer=_reviewer(), body=body)
    except DeskhandError as exc:
        raise fail(exc) from exc
    if as_json:
        print_json({"decision_id": v.decision_id, "verdict": v.verdict, "edit_distance": v.edit_distance,
                    "result": v.result, "replayed": v.replayed})
        return
    out.print(f"draft {decision_id} approved and posted (edit distance {v.edit_distance:.2f})"
              + (" — it had been approved before" if v.replayed else ""))


@review_app.command("reject")
def review_reject(
    decision_id: int,
    reason: Annotated[str, typer.Option(help="What was wrong with the draft (the ledger keeps it).")],
    tenant: Tenant = None,
) -> None:
    """Reject the draft: nothing is posted; the ledger records the reason."""
    from deskhand.responder.review import reject

    try:
        reject(runtime(), tenant, decision_id, reviewer=_reviewer(), reason=reason)
    except DeskhandError as exc:
        raise fail(exc) from exc
    out.print(f"draft {decision_id} rejected")
