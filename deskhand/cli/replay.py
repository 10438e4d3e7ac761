"""`deskhand replay ACCOUNT`: the responder in shadow over historical solved tickets."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from deskhand.cli.apps import JsonOpt, app, err, out
from deskhand.cli.core import fail, print_json, runtime
from deskhand.cli.metrics import SinceOpt, parse_since
from deskhand.errors import DeskhandError


@app.command("replay")
def replay_cmd(
    account: str,
    since: SinceOpt = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many tickets.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare would-be replies with what humans answered; a readiness report per category. Writes nothing."""
    from deskhand.responder.replay import replay

    try:
        report = replay(runtime(), account, since=parse_since(since), limit=limit)
    except DeskhandError as exc:
        raise fail(exc) from exc
    if as_json:
        print_json(report)
        return
    table = Table("category", "tickets", "auto", "draft", "human", "compared", "mean sim.", "similar", "same src.",
                  "readiness")
    for r in report["categories"]:
        table.add_row(
            r["category"], str(r["tickets"]), str(r["would_auto"]), str(r["would_draft"]), str(r["would_human"]),
            str(r["compared"]), "-" if r["mean_similarity"] is None else f"{r['mean_similarity']:.2f}",
            f"{r['similar_share']:.0%}", f"{r['same_sources_share']:.0%}", r["readiness"],
        )
    out.print(table)
    err.print(f"{report['tickets']} solved tickets of {account} replayed in shadow; nothing was written")
