"""`deskhand jobs list|retry|drop`: the durable queue's jobs by state, and its dead letters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from deskhand.cli.apps import JsonOpt, app, err, out
from deskhand.cli.core import fail, print_json, runtime
from deskhand.errors import DeskhandError
from deskhand.queue.letters import STATES, drop_job, list_jobs, retry_job

jobs_app = typer.Typer(help="Queued, running, done and dead jobs (dead letters can be retried or dropped).",
                       no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")


def _when(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


@jobs_app.command("list")
def jobs_list(
    state: Annotated[str | None, typer.Option("--state", help=f"One of {', '.join(STATES)} (default: all).")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="handle_event, apply_decision, …")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Jobs, newest first, with their attempts, when they run next and their last error."""
    rt = runtime()
    try:
        rows = list_jobs(rt.store.engine, state=state, kind=kind, limit=limit)
    except DeskhandError as exc:
        raise fail(exc) from exc
    if as_json:
        print_json({"jobs": rows, "counts": rt.queue.counts()})
        return
    table = Table("id", "kind", "state", "attempts", "next run (UTC)", "payload", "last error")
    for r in rows:
        table.add_row(str(r["id"]), r["kind"], r["status"], f"{r['attempts']}/{r['max_attempts']}",
                      _when(r["run_at"]) if r["status"] == "queued" else "",
                      ",".join(f"{k}={v}" for k, v in (r["payload"] or {}).items()),
                      (r["last_error"] or "")[:120])
    out.print(table)
    counts = rt.queue.counts()
    err.print(", ".join(f"{counts.get(s, 0)} {s}" for s in STATES))


@jobs_app.command("retry")
def jobs_retry(job_id: Annotated[list[int], typer.Argument(help="Job ids (see `deskhand jobs list`).")]) -> None:
    """Put dead (or dropped) jobs back in the queue with fresh attempts; a waiting job runs now."""
    rt = runtime()
    for jid in job_id:
        try:
            job = retry_job(rt.store.engine, jid, rt.queue.clock)
        except DeskhandError as exc:
            raise fail(exc) from exc
        out.print(f"job {jid} ({job['kind']}) was {job['status']}: queued, due now")


@jobs_app.command("drop")
def jobs_drop(job_id: Annotated[list[int], typer.Argument(help="Job ids (see `deskhand jobs list`).")]) -> None:
    """Set dead or queued jobs aside as `dropped` (kept, not run; `jobs retry` brings them back)."""
    rt = runtime()
    for jid in job_id:
        try:
            job = drop_job(rt.store.engine, jid, rt.queue.clock)
        except DeskhandError as exc:
            raise fail(exc) from exc
        out.print(f"job {jid} ({job['kind']}) was {job['status']}: dropped")


@jobs_app.command("breakers")
def jobs_breakers(as_json: JsonOpt = False) -> None:
    """Each account's circuit breaker: closed, open (its helpdesk failing) or half-open (probing)."""
    rt = runtime()
    rows = rt.breakers.all()
    if as_json:
        print_json({"breakers": rows})
        return
    table = Table("account", "state", "failures in a row", "opened (UTC)", "next probe (UTC)", "last error")
    for r in rows:
        table.add_row(r["account"], r["state"], str(r["failures"]), _when(r["opened_at"]),
                      _when(r["probe_at"]) if r["state"] != "closed" else "", (r["last_error"] or "")[:120])
    out.print(table)
    if not rows:
        err.print("no helpdesk failure recorded yet")
