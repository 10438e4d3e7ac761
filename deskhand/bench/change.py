"""`deskhand bench kb-change --chunks N`: what one knowledge change (a solved ticket) costs a running
worker on a SQLite store, against the whole-tenant rebuild it cost before the index was incremental.

One tenant of N synthetic one-chunk articles (`deskhand.bench.tenants`' vocabulary). Its vectors are
synthetic unit rows stored under the keys MiniLM's texts would have, in the persisted index file a
`kb add` leaves (embedding N articles' texts would take N / ~45 s on these cores and measures nothing
this bench is about); the solved tickets and every query go through the real MiniLM. Then, in this
process, as a worker does:

- ``first_query_s``: the tenant's first query after a start (chunks read, index file loaded, BM25
  built);
- ``full_rebuild_s``: a whole-tenant rebuild over the stored chunks (what every knowledge change cost
  the next query before: all chunks read, BM25 rebuilt, the index file read again and saved);
- warm query latency, and the bare query embedding in the same process;
- for each change: the solved ticket stored and indexed at ingest as ``kb tickets`` does
  (``ingest_ms``: store + `embed_knowledge`, not on any query's path), then the worker's next query
  (``apply_query_ms``: the change applied in place + that query; the ticket must be found) and the
  query after it (``next_query_ms``: nothing left to apply).
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from deskhand.bench.tenants import WORDS, _article, _percentile

TENANT = "big"


def _seed(settings: Any, store: Any, chunks: int, seed: int) -> float:
    """Store ``chunks`` articles and a persisted index of synthetic vectors under their keys; seconds."""
    from deskhand.ai.embed import default_embedder
    from deskhand.ai.retrieve import vector_texts
    from deskhand.index.hnsw import HnswIndex
    from deskhand.index.tenants import index_path, stored_chunk
    from deskhand.knowledge import add_documents

    rng = random.Random(seed)
    started = time.perf_counter()
    add_documents(store, TENANT, [_article(rng, 0, 0)])  # one through the ordinary path: the tenant, its version
    _bulk(store, [_article(rng, 0, i) for i in range(1, chunks)])
    embedder = default_embedder()
    keys = list(vector_texts([stored_chunk(r) for r in store.chunks(TENANT)], embedder))
    vectors = np.random.default_rng(seed).standard_normal((len(keys), embedder.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = HnswIndex(embedder.dim, capacity=len(keys), threads=2)
    index.upsert(keys, vectors)
    path = index_path(settings, TENANT)
    assert path is not None
    index.save(path)
    return time.perf_counter() - started


def _bulk(store: Any, docs: list[Any]) -> None:
    """The rows `add_documents` writes for these documents, in one transaction (one per article is
    minutes at 100,000 on a loaded machine, and timing the seed is not this bench's point)."""
    import hashlib

    from deskhand.ai.chunk import Article, chunk_article
    from deskhand.store import schema as t
    from deskhand.store.store import now

    if not docs:
        return
    articles, chunk_rows = [], []
    for doc in docs:
        digest = hashlib.sha256(f"{doc.kind}\n{doc.title}\n{doc.url}\n{doc.text}".encode()).hexdigest()
        articles.append({"tenant_id": TENANT, "source_id": doc.source_id, "title": doc.title[:300], "url": doc.url,
                         "content_hash": digest, "updated_at": now()})
        chunk_rows += [{"tenant_id": TENANT, "source_id": doc.source_id, "ordinal": i, "kind": doc.kind,
                        "title": ch.title, "heading": " > ".join(ch.heading_path) or None, "text": ch.text,
                        "url": doc.url}
                       for i, ch in enumerate(chunk_article(Article(doc.source_id, doc.title, doc.text, "markdown")))]
    with store.transaction() as c:
        c.execute(t.kb_articles.insert(), articles)
        c.execute(t.kb_chunks.insert(), chunk_rows)
        store._bump_kb_version(c, TENANT)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def run(chunks: int, *, changes: int = 5, queries: int = 30, seed: int = 7) -> dict[str, Any]:
    from deskhand.ai.embed import default_embedder
    from deskhand.ai.retrieve import query_embedder
    from deskhand.index.tenants import embed_knowledge, index_path
    from deskhand.knowledge import Document, add_documents
    from deskhand.runtime import KnowledgeIndex, Runtime
    from deskhand.settings import Settings
    from deskhand.store import Store

    rng = random.Random(seed + 1)
    with tempfile.TemporaryDirectory(prefix="deskhand-bench-change-") as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/deskhand.db", home=Path(tmp))
        rt = Runtime(Store.open(settings), settings)
        try:
            seed_s = _seed(settings, rt.store, chunks, seed)
            bare = query_embedder(default_embedder())
            bare.embed(["warm up the query session"])
            started = time.perf_counter()
            rt.retrieve(TENANT, "warm up the tenant")
            first_query_s = time.perf_counter() - started
            built = rt._retrievers.get(TENANT)
            started = time.perf_counter()
            KnowledgeIndex(rt.store.chunks(TENANT), index_path(settings, TENANT), hashes=rt.store.kb_hashes(TENANT))
            full_rebuild_s = time.perf_counter() - started
            warm, embed = [], []
            for _ in range(queries):
                q = " ".join(rng.choices(WORDS, k=8))
                started = time.perf_counter()
                rt.retrieve(TENANT, q)
                warm.append(_ms(started))
                started = time.perf_counter()
                bare.embed([q + " ?"])  # another text: not served from the embedder's cache
                embed.append(_ms(started))
            ingest, applied, after, found = [], [], [], 0
            for i in range(changes):
                words = " ".join(rng.choices(WORDS, k=6))
                ticket = Document(f"tickets/desk/{i}", f"Solved: {words} issue {i}",
                                  f"Customer reported {words}. Resolution: clear the cache and retry step {i}.",
                                  None, "resolved_ticket")
                started = time.perf_counter()
                add_documents(rt.store, TENANT, [ticket])
                embed_knowledge(settings, rt.store, TENANT)  # at ingest, as `kb tickets` does
                ingest.append(_ms(started))
                started = time.perf_counter()
                hits = rt.retrieve(TENANT, f"{words} issue {i} clear the cache", k=5)
                applied.append(_ms(started))
                found += any(h.id == f"tickets/desk/{i}#0" for h in hits)
                started = time.perf_counter()
                rt.retrieve(TENANT, " ".join(rng.choices(WORDS, k=8)))
                after.append(_ms(started))
            rebuilt = rt._retrievers.get(TENANT) is not built
        finally:
            rt.close()
    return {
        "chunks": chunks, "changes": changes, "seed_s": round(seed_s, 1),
        "first_query_s": round(first_query_s, 2), "full_rebuild_s": round(full_rebuild_s, 2),
        "warm_p50_ms": _percentile(warm, 50), "warm_p95_ms": _percentile(warm, 95),
        "query_embed_p50_ms": _percentile(embed, 50),
        "ingest_p50_ms": _percentile(ingest, 50),
        "apply_query_p50_ms": _percentile(applied, 50), "apply_query_max_ms": round(max(applied), 2),
        "next_query_p50_ms": _percentile(after, 50),
        "found": found, "rebuilt": rebuilt,
    }
