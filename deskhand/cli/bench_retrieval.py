"""`deskhand bench retrieval --chunks N`: build time, embedding throughput, query latency, memory."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from deskhand.cli.apps import JsonOpt, bench_app, out


@bench_app.command("retrieval")
def bench_retrieval(
    chunks: Annotated[int, typer.Option(help="Index size (synthetic chunks).")] = 100_000,
    backend: Annotated[str, typer.Option(help="hnsw (default) or exact.")] = "hnsw",
    queries: Annotated[int, typer.Option(help="Timed queries (real StackFAQ questions).")] = 200,
    as_json: JsonOpt = False,
) -> None:
    """Benchmark retrieval at N chunks (figures printed)."""
    from deskhand.bench.retrieval import run

    if backend not in ("hnsw", "exact"):
        raise typer.BadParameter("backend must be hnsw or exact")
    result = run(chunks, backend=backend, queries=queries)
    if as_json:
        print(json.dumps(result))
        return
    out.print(
        f"{result['chunks']:,} chunks ({result['backend']}): build {result['build_s']} s "
        f"(vectors {result['vector_build_s']} s), embedding {result['embed_per_s']}/s "
        f"(bare onnxruntime {result['bare_onnx_per_s']}/s), query p50 {result['query_ms_p50']} ms "
        f"p95 {result['query_ms_p95']} ms (query embedding p50 {result['query_embed_ms_p50']} ms), "
        f"ANN recall@5 {result['ann_recall@5']}, RSS {result['rss_mb']} MB "
        f"(load {result['load_avg']})"
    )
