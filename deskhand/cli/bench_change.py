"""`deskhand bench kb-change --chunks N`: one solved ticket's cost to a running worker (SQLite)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from deskhand.cli.apps import JsonOpt, bench_app, out


@bench_app.command("kb-change")
def bench_kb_change(
    chunks: Annotated[int, typer.Option(min=1, help="Synthetic one-chunk articles in the tenant.")] = 10_000,
    changes: Annotated[int, typer.Option(min=1, help="Solved tickets added, one at a time.")] = 5,
    queries: Annotated[int, typer.Option(min=1, help="Warm queries timed before the changes.")] = 30,
    as_json: JsonOpt = False,
) -> None:
    """Apply one knowledge change at a time to a tenant of N chunks: the worker's next query (change
    applied in place) against a whole-tenant rebuild, beside warm queries and the bare query embedding."""
    from deskhand.bench.change import run

    r = run(chunks, changes=changes, queries=queries)
    if as_json:
        print(json.dumps(r))
        return
    out.print(
        f"{r['chunks']:,} chunks (sqlite): first query after a start {r['first_query_s']} s; whole-tenant rebuild "
        f"{r['full_rebuild_s']} s (what each change cost before); warm query p50 {r['warm_p50_ms']} / p95 "
        f"{r['warm_p95_ms']} ms (bare query embedding p50 {r['query_embed_p50_ms']} ms); per solved ticket: "
        f"ingest {r['ingest_p50_ms']} ms (store + index file, not on a query's path), the next query with the "
        f"change applied p50 {r['apply_query_p50_ms']} / max {r['apply_query_max_ms']} ms, the query after "
        f"it p50 {r['next_query_p50_ms']} ms; found {r['found']}/{r['changes']}; rebuilt {r['rebuilt']}"
    )
    raise typer.Exit(0 if r["found"] == r["changes"] and not r["rebuilt"] else 1)
