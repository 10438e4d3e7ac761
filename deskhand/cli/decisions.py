"""`deskhand decisions list`: what deskhand decided for each ticket event, newest first, with times.

Our own echoes (route ``ignore``: events caused by deskhand's writes, duplicates) are hidden unless
``--all``; a decision that the autonomy mode kept from writing anything is shown as what happened
(``auto_reply (shadow)``), not as what it would have done.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from deskhand.cli.apps import JsonOpt, decisions_app, err, out
from deskhand.cli.core import print_json, runtime

SHADOW_REASON = "shadow mode for "  # the reason deskhand.responder.modes.gate() records


def performed(row: dict[str, Any]) -> str:
    """The route as it happened: ``auto_reply (shadow)`` when shadow mode wrote nothing."""
    shadow = row.get("mode") == "shadow" or any(str(r).startswith(SHADOW_REASON) for r in row["reasons"])
    return f"{row['route']} (shadow)" if shadow and row["route"] != "ignore" else str(row["route"])


def _modes(rt: Any, ids: list[int]) -> dict[int, str]:
    """The autonomy mode each decision was made under (from the outcome ledger, where it has one)."""
    from sqlalchemy import select

    from deskhand.store.tables_autonomy import outcomes

    if not ids:
        return {}
    q = select(outcomes.c.decision_id, outcomes.c.mode).where(outcomes.c.decision_id.in_(ids))
    with rt.store.engine.connect() as conn:
        return {int(r.decision_id): str(r.mode) for r in conn.execute(q)}


@decisions_app.command("list")
def decisions_list(
    account: str | None = None,
    ticket: str | None = None,
    limit: int = 50,
    all_: Annotated[bool, typer.Option("--all", help="Include ignored events (deskhand's own echoes).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Decisions, newest first (ignored echoes hidden unless --all)."""
    from deskhand.cli.checks import known_account_or_history

    rt = runtime()
    if account is not None:
        known_account_or_history(rt.store, account)
    rows = rt.store.list_decisions(account=account, ticket_id=ticket, limit=limit,
                                   without_routes=() if all_ else ("ignore",))
    modes = _modes(rt, [int(r["id"]) for r in rows])
    for r in rows:
        r["mode"] = modes.get(int(r["id"]))
        r["performed"] = performed(r)
    if as_json:
        print_json({"decisions": rows})
        return
    table = Table("id")
    table.add_column("at (UTC)", no_wrap=True)
    for name in ("account", "ticket", "route", "category", "conf", "rules"):
        table.add_column(name, no_wrap=name in ("route", "conf"))
    for r in rows:
        at = r["created_at"]
        table.add_row(
            str(r["id"]), f"{at:%Y-%m-%d %H:%M}" if at else "", r["account"], r["ticket_id"], r["performed"],
            r["category"] or "", f"{r['confidence']:.2f}", ",".join(r["rules"]),
        )
    out.print(table)
    if not all_:
        latest = rt.store.list_decisions(account=account, ticket_id=ticket, limit=limit)
        hidden = sum(r["route"] == "ignore" for r in latest)
        if hidden:
            err.print(f"{hidden} of the latest {len(latest)} decisions were ignored events (deskhand's own echoes, "
                      "duplicates), not shown: --all shows them", soft_wrap=True)
