"""`deskhand sync ACCOUNT [--full] [--json]`: backfill or incremental sync into the local replica."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from deskhand.cli.apps import JsonOpt, app, err, out
from deskhand.cli.core import fail, runtime, setup_logging
from deskhand.errors import DeskhandError


@app.command("sync")
def sync(
    account: str,
    full: Annotated[bool, typer.Option("--full", help="Read everything again; tombstone what is gone.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Sync one account's tickets, comments, users and teams into the local replica (resumable)."""
    from deskhand.sync import replica
    from deskhand.sync.engine import SyncStats, sync_account

    setup_logging("WARNING")
    rt = runtime()
    try:
        rt.store.get_account(account)  # a typo is one line, before any progress bar
        if as_json:
            stats = sync_account(rt, account, full=full)
        else:
            columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                       TextColumn("{task.fields[line]}"), TimeElapsedColumn())
            with Progress(*columns, console=err, transient=False) as bar:
                task = bar.add_task(f"sync {account}", total=None, line="starting")

                def show(s: SyncStats) -> None:
                    line = (f"{s.seen} seen · {s.written} written · {s.skipped} unchanged · {s.comments} comments"
                            f" · {s.deleted} deleted · {s.reconciled} fed to the responder · page {s.pages}")
                    bar.update(task, line=line)

                stats = sync_account(rt, account, full=full, progress=show)
                bar.update(task, total=1, completed=1)
    except DeskhandError as exc:
        raise fail(exc) from exc
    summary = replica.summary(rt.store.engine, account)
    summary.pop("deleted_ids")
    result = {**stats.as_dict(), "replica": summary}
    if as_json:
        print(json.dumps(result))
        return
    out.print(f"[green]synced[/green] {account} ({stats.mode}) in {stats.wall_s:.1f}s: {stats.written} written, "
              f"{stats.skipped} unchanged, {stats.deleted} deleted, {stats.reconciled} fed to the responder")
    out.print(f"replica: {summary['tickets']} tickets, {summary['comments']} comments, {summary['users']} users, "
              f"{summary['teams']} teams, {summary['deleted']} tombstones")
