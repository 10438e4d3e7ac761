"""`deskhand secrets rotate [--finish]`: re-seal every stored secret under a new key (deskhand.store.rekey)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from deskhand.cli.apps import JsonOpt, app, err, out
from deskhand.cli.core import fail, print_json, runtime
from deskhand.errors import DeskhandError
from deskhand.store import rekey

secrets_app = typer.Typer(help="The key that seals stored secrets (credentials, OAuth tokens, webhook secrets).",
                          no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")


@secrets_app.command("rotate")
def secrets_rotate(
    finish: Annotated[bool, typer.Option("--finish", help="Once a rotation re-sealed everything: check that the "
                                         "new key alone opens every secret, then drop the old key.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Put a new key first (every process keeps reading the old one too), re-seal every stored secret
    under it; run again to resume a rotation that was stopped; --finish drops the old key."""
    rt = runtime()
    box = rt.store.box
    try:
        if finish:
            tallies, started = rekey.finish(rt.store.engine, box), False
        else:
            started = rekey.start(box)
            tallies = rekey.reseal(rt.store.engine, box)
    except DeskhandError as exc:
        raise fail(exc) from exc
    left = len(rekey.stragglers(rt.store.engine, box))
    where = f"key file {box.key_file}" if box.key_file is not None else "DESKHAND_SECRET_KEY"
    summary = {"finished": finish, "new_key": started, "keys": len(box.keys), "key_source": where,
               "not_yet_resealed": left, "columns": [asdict(t) for t in tallies]}
    if as_json:
        print_json(summary)
        return
    table = Table("table", "column", "rows", "re-sealed now", "already under the new key")
    for t in tallies:
        table.add_row(t.table, t.column, str(t.rows), str(t.resealed), str(t.already))
    out.print(table)
    if finish:
        tail = ("remove every key but the first from DESKHAND_SECRET_KEY in every process"
                if box.key_file is None else "the old key is gone from the key file")
        err.print(f"every stored secret opens with the new key alone; {tail}.")
    else:
        err.print(("a new key now seals (the " + where + " keeps the old one, so every process reads both); "
                   if started else "resumed the rotation under way; ")
                  + f"{left} secrets not yet under the new key. When every process has run with the new key "
                  "for a while: deskhand secrets rotate --finish")
