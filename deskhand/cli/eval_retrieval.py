"""`deskhand eval retrieval`: recall@1/@5, MRR@10 and latency on StackFAQ or DSTC11 (+ distractors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from deskhand.cli.apps import JsonOpt, eval_app, out


@eval_app.command("retrieval")
def eval_retrieval(
    dataset: Annotated[Path, typer.Option(help="Dataset folder (stackfaq or dstc11).")],
    split: Annotated[str, typer.Option(help="dev (tune) or test (report).")] = "dev",
    distractors: Annotated[
        list[Path] | None, typer.Option("--distractors", help="Folders added as distractors.")
    ] = None,
    lexical_only: Annotated[bool, typer.Option(help="BM25 alone, no embeddings.")] = False,
    lexical_weight: Annotated[float | None, typer.Option(help="Override the BM25 weight in the fusion.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N queries.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate retrieval: recall@1, recall@5, MRR@10 and query latency p50/p95."""
    from deskhand.ai.embed import default_embedder
    from deskhand.eval.retrieval import cache_index, evaluate, load

    if split not in ("dev", "test"):
        raise typer.BadParameter("split must be dev or test")
    data = load(dataset, split)
    extra = [load(p, split) for p in distractors or []]
    embedder = None if lexical_only else default_embedder()
    index, path = cache_index(embedder.dim) if embedder else (None, None)
    options = {} if lexical_weight is None else {"lexical_weight": lexical_weight}
    result = evaluate(data, extra, embedder=embedder, index=index, limit=limit, **options)
    if index is not None and path is not None:
        index.save(path)
    result["split"] = split
    result["distractors"] = [d.name for d in extra]
    if as_json:
        print(json.dumps(result))
        return
    out.print(
        f"{result['dataset']} {split}: {result['queries']} queries over {result['chunks']} chunks "
        f"(distractors: {', '.join(result['distractors']) or 'none'})\n"
        f"recall@1 {result['recall@1']:.3f}  recall@5 {result['recall@5']:.3f}  MRR@10 {result['mrr@10']:.3f}  "
        f"latency p50 {result['latency_ms_p50']:.1f} ms  p95 {result['latency_ms_p95']:.1f} ms"
    )
