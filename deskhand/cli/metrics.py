"""`deskhand metrics` (outcome ledger figures) and `deskhand kb gaps` (articles to write next)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from deskhand.cli.apps import JsonOpt, app, kb_app, out
from deskhand.cli.core import fail, print_json, runtime
from deskhand.errors import ConfigError
from deskhand.timestamps import parse_timestamp

SinceOpt = Annotated[str | None, typer.Option("--since", help="ISO date, e.g. 2026-01-31.")]


def parse_since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_timestamp(value, "iso8601")
    except ValueError as exc:
        raise fail(ConfigError(f"--since {value!r} is not an ISO date (YYYY-MM-DD)")) from exc


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


@app.command("metrics")
def metrics(
    account: Annotated[str | None, typer.Option("--account")] = None,
    since: SinceOpt = None,
    by: Annotated[str, typer.Option("--by", help="Grouping: comma-separated of account,category,day.")] = (
        "account,category,day"
    ),
    as_json: JsonOpt = False,
) -> None:
    """Automatic resolution, escalation, draft acceptance and edit distance, reopen and failed-resolution
    rates, cost per resolution — per account, category and day, from the outcome ledger."""
    from deskhand.responder.scores import GROUPS, compute

    keys = [k.strip() for k in by.split(",") if k.strip()]
    if not keys or any(k not in GROUPS for k in keys):
        raise fail(ConfigError(f"--by takes {', '.join(GROUPS)}"))
    from deskhand.cli.checks import known_account_or_history

    rt = runtime()
    if account is not None:
        known_account_or_history(rt.store, account)
    rows = compute(rt.store, account=account, since=parse_since(since), by=keys)
    if as_json:
        print_json({"metrics": rows})
        return
    table = Table(*keys, "decisions", "auto", "auto res.", "escal.", "draft acc.", "edit dist.", "reopen", "failed",
                  "$/res.")
    for r in rows:
        table.add_row(
            *[str(r[k]) for k in keys], str(r["decisions"]), str(r["auto_replies"]),
            _pct(r["automatic_resolution_rate"]), _pct(r["escalation_rate"]), _pct(r["draft_acceptance"]),
            "-" if r["draft_edit_distance"] is None else f"{r['draft_edit_distance']:.2f}",
            _pct(r["reopen_rate"]), _pct(r["failed_resolution_rate"]),
            "-" if r["cost_per_resolution"] is None else f"{r['cost_per_resolution']:.4f}",
        )
    out.print(table)
    if not rows:
        out.print("the outcome ledger is empty")


@kb_app.command("gaps")
def kb_gaps(
    account: Annotated[str | None, typer.Option("--account")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Questions that went to drafts or humans because no knowledge was close enough, by topic."""
    from deskhand.cli.checks import known_account_or_history
    from deskhand.responder.gaps import find_gaps

    rt = runtime()
    if account is not None:
        known_account_or_history(rt.store, account)
    groups = find_gaps(rt.store, account)
    if as_json:
        print_json({"gaps": groups})
        return
    table = Table("topic", "tickets", "best match", "examples")
    for g in groups:
        table.add_row(g["topic"], str(g["tickets"]), f"{g['best_score']:.2f}",
                      "\n".join(f"#{e['ticket_id']} {e['question']}" for e in g["examples"]))
    out.print(table)
    if not groups:
        out.print("no knowledge gaps: every question found close enough knowledge")
