"""`deskhand bench tenants --tenants N --chunks-per-tenant M --backend sqlite|postgres`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from deskhand.cli.apps import JsonOpt, bench_app, out


@bench_app.command("tenants")
def bench_tenants(
    tenants: Annotated[int, typer.Option(help="Tenants to build.")] = 20,
    chunks_per_tenant: Annotated[int, typer.Option(help="Synthetic one-chunk articles per tenant.")] = 100,
    backend: Annotated[str, typer.Option(help="sqlite or postgres (pgvector).")] = "sqlite",
    queries: Annotated[int, typer.Option(help="Tenants each fresh worker queries (cold, then warm).")] = 50,
    workers: Annotated[int, typer.Option(min=1, help="Fresh worker processes querying at once.")] = 1,
    database_url: Annotated[str | None, typer.Option(help="A pgvector PostgreSQL (default: a private one).")] = None,
    big: Annotated[bool, typer.Option("--big", help="Also one tenant of N x M chunks, queried after the others.")
                   ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Build N tenants' knowledge, then query them from a fresh worker process (figures printed)."""
    from deskhand.bench.tenants import run

    if backend not in ("sqlite", "postgres"):
        raise typer.BadParameter("backend must be sqlite or postgres")
    r = run(tenants, chunks_per_tenant, backend, queries=queries, workers=workers, database_url=database_url, big=big)
    if as_json:
        print(json.dumps(r))
        return
    out.print(
        f"{r['tenants']} tenants x {r['chunks_per_tenant']} chunks ({r['backend']}): build {r['build_s']} s "
        f"({r['chunks_per_s']} chunks/s); {r['workers']} fresh worker(s): start {r['worker_start_s']} s, "
        f"RSS {r['rss_mb']} MB (slowest, largest); "
        f"query cold p50 {r['cold_p50_ms']} / p95 {r['cold_p95_ms']} ms, warm p50 {r['warm_p50_ms']} / "
        f"p95 {r['warm_p95_ms']} ms; bare query embedding p50 {r['query_embed_p50_ms']} / "
        f"p95 {r['query_embed_p95_ms']} ms (same processes, {r['queries']} tenants queried)"
    )
    if big:
        out.print(
            f"one big tenant of {r['tenants'] * r['chunks_per_tenant']:,} chunks: build {r['big_build_s']} s; "
            f"first query (cold) p50 {r['big_cold_p50_ms']} / max {r['big_cold_max_ms']} ms, warm p50 "
            f"{r['big_warm_p50_ms']} / p95 {r['big_warm_p95_ms']} ms (same workers)"
        )
