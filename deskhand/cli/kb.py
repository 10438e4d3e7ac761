"""`deskhand kb add PATH` (a named folder source), `kb sources`, `kb pull ACCOUNT` (help-centre
articles) and `kb tickets ACCOUNT` (resolved tickets).

All store knowledge for a tenant, re-indexing only documents whose content changed; ``kb add`` shows
what it would remove and asks first, lists the files it refused, and embeds what it stored (progress
bar) so the first search does not. ``kb list/remove/search`` live in ``cli/core.py``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from deskhand.cli.apps import JsonOpt, err, kb_app, out
from deskhand.cli.core import fail, print_json, runtime
from deskhand.errors import DeskhandError
from deskhand.model import DEFAULT_TENANT

PREVIEW = 20  # articles named in a removal preview (the rest are counted)


@kb_app.command("add")
def kb_add(
    path: Path,
    source: Annotated[str | None, typer.Option(
        "--source", help="Name of this knowledge source (default: the folder's name); articles are <source>/<file>."
    )] = None,
    tenant: Annotated[str, typer.Option(help="Tenant whose knowledge this is.")] = DEFAULT_TENANT,
    yes: Annotated[bool, typer.Option("--yes", help="Remove articles without asking.")] = False,
    max_file_mb: Annotated[float, typer.Option(help="Refuse files larger than this (MB).")] = 2.0,
    as_json: JsonOpt = False,
) -> None:
    """Index a folder of markdown / HTML / text articles as one named source (only what changed is
    re-indexed; binary, empty, undecodable and oversized files are refused and listed)."""
    from deskhand.cli.checks import confirm, known_tenant
    from deskhand.knowledge import apply_folder, plan_folder

    rt = runtime()
    try:
        known_tenant(rt.store, tenant)
        plan = plan_folder(rt.store, tenant, path, source=source, max_bytes=int(max_file_mb * 1e6))
        if plan.removed:
            _preview_removals(plan.source, plan.previous_path, plan.removed)
            confirm(f"remove {len(plan.removed)} article(s) of source {plan.source!r}?", yes=yes)
        report = apply_folder(rt.store, plan)
        index = _embed(rt, tenant, quiet=as_json)
    except DeskhandError as exc:
        raise fail(exc) from exc
    if as_json:
        print_json({**report.__dict__, "index": {**index, "path": str(index["path"]) if index["path"] else None}})
        return
    for s in report.skipped:
        err.print(f"[yellow]skipped[/yellow] {s['path']}: {s['reason']}", soft_wrap=True, highlight=False)
    _print_flagged(report.flagged)
    out.print(
        f"source [bold]{report.source}[/bold]: {len(report.added)} added, {len(report.changed)} changed, "
        f"{len(report.unchanged)} unchanged, {len(report.removed)} removed, {len(report.skipped)} skipped "
        f"({report.chunks} chunks written)"
    )
    if index["path"] is None:
        out.print("vectors: kept in each process's memory for this store (embedded at its first search)")
    else:
        out.print(f"vectors: {index['embedded']} embedded, {index['reused']} reused in {index['seconds']:.1f} s "
                  f"({index['path']})", soft_wrap=True)


def _preview_removals(source: str, previous: str | None, removed: list[str]) -> None:
    was = f" (it held {previous})" if previous else ""
    err.print(f"source {source!r}{was}: {len(removed)} article(s) will be removed:", soft_wrap=True)
    for source_id in removed[:PREVIEW]:
        err.print(f"  - {source_id}", soft_wrap=True, highlight=False)
    if len(removed) > PREVIEW:
        err.print(f"  … and {len(removed) - PREVIEW} more")


def _embed(rt: Any, tenant: str, *, quiet: bool) -> dict[str, Any]:
    """Embed the tenant's new chunk texts now, with a progress bar on stderr (not on the first search)."""
    from deskhand.index.tenants import embed_knowledge

    started = time.perf_counter()
    columns = (TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True, disable=quiet) as bar:
        task = bar.add_task("embedding", total=None)
        report = embed_knowledge(rt.settings, rt.store, tenant,
                                 progress=lambda done, total: bar.update(task, completed=done, total=total))
    return {"embedded": report.embedded, "reused": report.reused, "dropped": report.dropped,
            "path": report.path, "seconds": round(time.perf_counter() - started, 2)}


@kb_app.command("sources")
def kb_sources(tenant: str = DEFAULT_TENANT, as_json: JsonOpt = False) -> None:
    """Named knowledge sources (folders added with `kb add`) and how many articles each has."""
    from deskhand.cli.checks import known_tenant
    from deskhand.store.kb_sources import list_sources

    rt = runtime()
    articles = [r["source_id"] for r in rt.store.list_articles(known_tenant(rt.store, tenant))]
    rows = [{"name": s.name, "path": s.path, "articles": sum(a.startswith(s.name + "/") for a in articles),
             "updated_at": s.updated_at} for s in list_sources(rt.store, tenant)]
    if as_json:
        print_json({"sources": rows})
        return
    table = Table("source", "articles", "folder", "updated")
    for r in rows:
        table.add_row(r["name"], str(r["articles"]), r["path"], f"{r['updated_at']:%Y-%m-%d %H:%M}")
    out.print(table)


def _print(report: object, as_json: bool, what: str, index: dict[str, Any] | None = None) -> None:
    data = dict(report.__dict__)
    if as_json:
        if index is not None:
            data["index"] = {**index, "path": str(index["path"]) if index["path"] else None}
        print_json(data)
        return
    _print_flagged(data.get("flagged") or {})
    out.print(
        f"{what}: {len(data['added'])} added, {len(data['changed'])} changed, {len(data['unchanged'])} unchanged, "
        f"{len(data['removed'])} removed ({data['chunks']} chunks written)"
    )
    if index is not None and index["path"] is not None:
        out.print(f"vectors: {index['embedded']} embedded, {index['reused']} reused in {index['seconds']:.1f} s",
                  highlight=False)


def _print_flagged(flagged: dict[str, str]) -> None:
    for source_id, why in flagged.items():
        err.print(f"[yellow]flagged[/yellow] {source_id}: {why}; it is kept out of retrieval (fix the article and "
                  "add it again)", soft_wrap=True, highlight=False)


@kb_app.command("pull")
def kb_pull(account: str, as_json: JsonOpt = False) -> None:
    """Pull the account's help-centre articles (Zendesk Help Center) into its knowledge."""
    from deskhand.knowledge import add_documents, help_center_documents

    rt = runtime()
    try:
        record = rt.store.get_account(account)
        docs = help_center_documents(rt.connector(record))
        report = add_documents(rt.store, record.tenant_id, docs, prune_prefix=f"help_center/{account}/")
        index = _embed(rt, record.tenant_id, quiet=as_json)  # at ingest, not at the first search
    except DeskhandError as exc:
        raise fail(exc) from exc
    _print(report, as_json, f"help centre of {account}", index)


@kb_app.command("tickets")
def kb_tickets(
    account: str,
    bot: Annotated[list[str] | None, typer.Option(help="Author ids whose answers are a bot's (excluded).")] = None,
    review: Annotated[bool, typer.Option("--review", help="Then list the derived articles and their review.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Turn the replica's solved tickets into generalised problem → resolution knowledge (run `sync` first).
    Sentences specific to their customer are dropped whole; a derived article supports an automatic
    reply only with a knowledge-base article agreeing or once approved (`deskhand kb approve`)."""
    from deskhand.cli.kb_review import print_reviews, tenant_allow_list
    from deskhand.knowledge import add_resolved_tickets, replica_pairs

    rt = runtime()
    try:
        record = rt.store.get_account(account)
        own = rt.identity(record).own_id  # our own API user's answers are the bot's
        bots = set(bot or []) | ({own} if own else set())
        hosts, vocabulary = tenant_allow_list(rt, record)
        pairs = replica_pairs(rt.store.engine, account, bot_ids=bots, allowed_hosts=hosts, vocabulary=vocabulary)
        report = add_resolved_tickets(rt.store, record.tenant_id, account, pairs)
        index = _embed(rt, record.tenant_id, quiet=as_json)  # at ingest, not at the first search
    except DeskhandError as exc:
        raise fail(exc) from exc
    _print(report, as_json, f"resolved tickets of {account}", index)
    if review and not as_json:
        print_reviews(rt, record.tenant_id, prefix=f"tickets/{account}/")
