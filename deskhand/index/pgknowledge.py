"""A tenant's knowledge searchable straight from PostgreSQL: vectors in pgvector, BM25 postings in tables.

On a PostgreSQL store no process keeps a tenant's index in memory: ``sync`` (run at ingest by
``embed_knowledge``, and as a catch-up by the first search that finds the index behind the store)
writes, for each *changed article only*, its chunks (``deskhand_kb_docs``), their analysed terms
(``deskhand_kb_terms``: term, chunk, tf) and the vectors of texts not embedded before (the shared
``deskhand_vectors`` table of `PgVectorIndex`). A search embeds the query and nothing else.

The lexical side is a *persisted BM25*, not PostgreSQL full-text search: ``ts_rank`` has no IDF and
another stemmer/stopword list, so its scores would not be the BM25 the fusion weight
(``LEXICAL_WEIGHT``) was tuned on, and a PostgreSQL deployment would rank differently from a SQLite
one. The postings hold the same analyser's terms (`Analyzer`), so scores equal bm25s's (Lucene
variant, k1 1.5, b 0.75) over the same chunks; adding or removing an article touches its rows only.

The tables live outside the store's migrations for the reason `deskhand.index.pgvector` gives: they
are a derived index created with the pgvector table (``ensure``), rebuilt from ``kb_chunks`` by
``sync`` whenever they are missing or behind.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Connection, Engine, bindparam, select, text

from deskhand.errors import ConfigError
from deskhand.index.lexical import Analyzer
from deskhand.index.pgvector import TABLE as VECTORS
from deskhand.index.pgvector import PgVectorIndex, _literal
from deskhand.model import Source

if TYPE_CHECKING:
    from deskhand.ai.embed import Embedder
    from deskhand.store import Store

log = logging.getLogger(__name__)
DOCS = "deskhand_kb_docs"
TERMS = "deskhand_kb_postings"  # with each chunk's length and order: BM25 reads no other table
ARTICLES = "deskhand_kb_indexed"
K1, B = 1.5, 0.75  # bm25s defaults (method "lucene"), as `Bm25Index` uses them
EF_SEARCH = 100  # = 2 × CANDIDATES: pgvector's HNSW returns at most ef_search rows
BATCH = 200  # articles per transaction in sync

_ensured: set[str] = set()
_unavailable: set[str] = set()


def available(engine: Engine, dim: int) -> bool:
    """Whether this PostgreSQL can hold the index (has pgvector, or lets us create it). Without it the
    runtime keeps per-process in-memory indexes as before, with a warning once per process."""
    marker = engine.url.render_as_string(hide_password=True)
    if marker in _unavailable:
        return False
    try:
        ensure_tables(engine, dim)
    except ConfigError as exc:
        _unavailable.add(marker)
        log.warning("knowledge index kept in process memory", extra={"reason": str(exc)})
        return False
    return True


def ensure_tables(engine: Engine, dim: int) -> None:
    """The pgvector table and this module's tables (idempotent; once per process and database)."""
    marker = f"{engine.url.render_as_string(hide_password=True)}|{dim}"
    if marker in _ensured:
        return
    PgVectorIndex(engine, "", dim, ensure=True)
    with engine.begin() as c:
        c.execute(text(
            f"CREATE TABLE IF NOT EXISTS {DOCS} (tenant_id TEXT NOT NULL, chunk_id TEXT NOT NULL, "
            "source_id TEXT NOT NULL, ordinal INTEGER NOT NULL, kind TEXT NOT NULL, title TEXT NOT NULL, "
            "heading TEXT, url TEXT, text TEXT NOT NULL, body_key BIGINT NOT NULL, title_key BIGINT, "
            "length INTEGER NOT NULL, PRIMARY KEY (tenant_id, chunk_id))"
        ))
        c.execute(text(f"CREATE INDEX IF NOT EXISTS {DOCS}_source ON {DOCS} (tenant_id, source_id)"))
        c.execute(text(f"CREATE INDEX IF NOT EXISTS {DOCS}_body ON {DOCS} (tenant_id, body_key)"))
        c.execute(text(f"CREATE INDEX IF NOT EXISTS {DOCS}_title ON {DOCS} (tenant_id, title_key)"))
        c.execute(text(
            f"CREATE TABLE IF NOT EXISTS {TERMS} (tenant_id TEXT NOT NULL, term TEXT NOT NULL, "
            "chunk_id TEXT NOT NULL, tf INTEGER NOT NULL, length INTEGER NOT NULL, source_id TEXT NOT NULL, "
            "ordinal INTEGER NOT NULL, PRIMARY KEY (tenant_id, term, chunk_id))"
        ))
        c.execute(text(f"CREATE INDEX IF NOT EXISTS {TERMS}_source ON {TERMS} (tenant_id, source_id)"))
        c.execute(text(
            f"CREATE TABLE IF NOT EXISTS {ARTICLES} (tenant_id TEXT NOT NULL, source_id TEXT NOT NULL, "
            "content_hash TEXT NOT NULL, PRIMARY KEY (tenant_id, source_id))"
        ))
    _ensured.add(marker)


class PgKnowledge:
    """One tenant's knowledge index in PostgreSQL (stateless: safe to build per call)."""

    def __init__(self, engine: Engine, tenant_id: str, embedder: Embedder) -> None:
        ensure_tables(engine, embedder.dim)
        self.engine = engine
        self.tenant_id = tenant_id
        self.embedder = embedder
        self.vectors = PgVectorIndex(engine, tenant_id, embedder.dim, ensure=False)
        self.analyzer = Analyzer()

    # -- ingest -----------------------------------------------------------------------------
    def behind(self, store: Store) -> tuple[list[str], list[str]]:
        """(articles new or changed since indexed, articles indexed but gone from the store)."""
        with self.engine.connect() as c:
            rows = c.execute(
                text(f"SELECT source_id, content_hash FROM {ARTICLES} WHERE tenant_id = :t"), {"t": self.tenant_id}
            ).all()
        indexed = {r[0]: r[1] for r in rows}
        current = store.kb_hashes(self.tenant_id)
        changed = sorted(s for s, h in current.items() if indexed.get(s) != h)
        return changed, sorted(s for s in indexed if s not in current)

    def in_sync(self) -> bool:
        """Whether every stored article of the tenant is indexed at its current content (one query)."""
        with self.engine.connect() as c:
            behind = c.execute(text(
                f"SELECT EXISTS (SELECT 1 FROM kb_articles a LEFT JOIN {ARTICLES} i ON i.tenant_id = a.tenant_id "
                "AND i.source_id = a.source_id WHERE a.tenant_id = :t AND i.content_hash IS DISTINCT FROM "
                f"a.content_hash) OR EXISTS (SELECT 1 FROM {ARTICLES} i LEFT JOIN kb_articles a ON "
                "a.tenant_id = i.tenant_id AND a.source_id = i.source_id WHERE i.tenant_id = :t "
                "AND a.source_id IS NULL)"), {"t": self.tenant_id}).scalar_one()
        return not behind

    def sync(self, store: Store, *, progress: Callable[[int, int], None] | None = None) -> tuple[int, int, int]:
        """Index the changed articles and drop the gone ones (nothing else is read or embedded);
        returns (texts embedded, texts whose vector was stored already, vectors dropped)."""
        changed, gone = self.behind(store)
        embedded = reused = dropped = 0
        hashes = store.kb_hashes(self.tenant_id) if changed else {}
        todo = changed + gone
        for start in range(0, len(todo), BATCH):
            batch = todo[start : start + BATCH]
            e, r, d = self._apply(store, batch, hashes)
            embedded, reused, dropped = embedded + e, reused + r, dropped + d
            if progress is not None:
                progress(start + len(batch), len(todo))
        return embedded, reused, dropped

    def _apply(self, store: Store, sources: Sequence[str], hashes: dict[str, str]) -> tuple[int, int, int]:
        from deskhand.ai.retrieve import indexed_text, vector_key
        from deskhand.index.tenants import stored_chunk
        from deskhand.store import schema as t

        with self.engine.connect() as c:
            q = select(t.kb_chunks).where(
                t.kb_chunks.c.tenant_id == self.tenant_id, t.kb_chunks.c.source_id.in_(list(sources))
            ).order_by(t.kb_chunks.c.source_id, t.kb_chunks.c.ordinal)
            rows = [dict(r._mapping) for r in c.execute(q).all()]
        docs: list[dict[str, Any]] = []
        postings: list[dict[str, Any]] = []
        texts: dict[int, str] = {}
        for row in rows:
            chunk = stored_chunk(row)
            body = indexed_text(chunk)
            body_key = vector_key(self.embedder, body)
            texts[body_key] = body
            title = chunk.title.strip()
            title_key = vector_key(self.embedder, title) if title and title != body.strip() else None
            if title_key is not None:
                texts[title_key] = title
            terms = self.analyzer.terms(body)
            docs.append({
                "t": self.tenant_id, "c": chunk.id, "s": chunk.source_id, "o": chunk.index, "kind": row["kind"],
                "title": row["title"], "heading": row.get("heading"), "url": row.get("url"), "text": row["text"],
                "bk": body_key, "tk": title_key, "len": max(1, len(terms)),
            })
            postings.extend({"t": self.tenant_id, "term": term, "c": chunk.id, "tf": tf, "len": max(1, len(terms)),
                             "s": chunk.source_id, "o": chunk.index} for term, tf in Counter(terms).items())
        have = self._stored_keys(list(texts))
        missing = [k for k in texts if k not in have]
        if missing:
            self.vectors.upsert(missing, self.embedder.embed([texts[k] for k in missing]))
        with self.engine.begin() as c:
            p = {"t": self.tenant_id, "s": list(sources)}
            old = c.execute(text(
                f"SELECT body_key, title_key FROM {DOCS} WHERE tenant_id = :t AND source_id = ANY(:s)"), p).all()
            c.execute(text(
                f"DELETE FROM {TERMS} WHERE tenant_id = :t AND source_id = ANY(:s)"), p)
            c.execute(text(f"DELETE FROM {DOCS} WHERE tenant_id = :t AND source_id = ANY(:s)"), p)
            c.execute(text(f"DELETE FROM {ARTICLES} WHERE tenant_id = :t AND source_id = ANY(:s)"), p)
            if docs:
                c.execute(text(
                    f"INSERT INTO {DOCS} (tenant_id, chunk_id, source_id, ordinal, kind, title, heading, url, text, "
                    "body_key, title_key, length) VALUES (:t, :c, :s, :o, :kind, :title, :heading, :url, :text, "
                    ":bk, :tk, :len)"), docs)
            if postings:
                c.execute(text(f"INSERT INTO {TERMS} (tenant_id, term, chunk_id, tf, length, source_id, ordinal) "
                               "VALUES (:t, :term, :c, :tf, :len, :s, :o)"), postings)
            indexed = [{"t": self.tenant_id, "s": s, "h": hashes[s]} for s in sources if s in hashes]
            if indexed:
                c.execute(text(f"INSERT INTO {ARTICLES} (tenant_id, source_id, content_hash) VALUES (:t, :s, :h)"),
                          indexed)
            old_keys = [int(k) for r in old for k in r if k is not None and int(k) not in texts]
            stale: list[int] = []
            if old_keys:
                used = c.execute(text(
                    f"SELECT body_key, title_key FROM {DOCS} WHERE tenant_id = :t "
                    "AND (body_key = ANY(:k) OR title_key = ANY(:k))"), {"t": self.tenant_id, "k": old_keys}).all()
                still = {int(k) for r in used for k in r if k is not None}
                stale = sorted(set(old_keys) - still)
                c.execute(text(f"DELETE FROM {VECTORS} WHERE tenant_id = :t AND key = ANY(:k)"),
                          {"t": self.tenant_id, "k": stale})
        return len(missing), len(texts) - len(missing), len(stale)

    def _stored_keys(self, keys: list[int]) -> set[int]:
        if not keys:
            return set()
        with self.engine.connect() as c:
            rows = c.execute(text(f"SELECT key FROM {VECTORS} WHERE tenant_id = :t AND key = ANY(:k)"),
                             {"t": self.tenant_id, "k": keys}).all()
        return {int(r[0]) for r in rows}

    # -- search -----------------------------------------------------------------------------
    def bm25(self, terms: Sequence[str], c: Connection | None = None) -> dict[str, tuple[float, tuple[str, int]]]:
        """BM25 of every chunk containing a query term: chunk id -> (score, (source, ordinal))."""
        if not terms:
            return {}
        if c is None:
            with self.engine.connect() as own:
                return self.bm25(terms, own)
        rows = c.execute(text(
            f"WITH s AS MATERIALIZED (SELECT count(*) AS n, coalesce(sum(length), 0) AS total FROM {DOCS} "
            "WHERE tenant_id = :t) SELECT p.term, p.chunk_id, p.tf, p.length, p.source_id, p.ordinal, s.n, s.total "
            f"FROM {TERMS} p CROSS JOIN s WHERE p.tenant_id = :t AND p.term = ANY(:terms)"),
            {"t": self.tenant_id, "terms": sorted(set(terms))},
        ).all()
        if not rows:
            return {}
        n, avgdl = rows[0][6], rows[0][7] / rows[0][6]
        df = Counter(r[0] for r in rows)
        times = Counter(terms)  # a repeated query term counts again, as in bm25s
        scores: dict[str, tuple[float, tuple[str, int]]] = {}
        for term, chunk_id, tf, length, source_id, ordinal, _, _ in rows:
            idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
            part = times[term] * idf * tf / (K1 * ((1 - B) + B * length / avgdl) + tf)
            prior = scores.get(chunk_id, (0.0, (source_id, ordinal)))
            scores[chunk_id] = (prior[0] + part, prior[1])
        return scores

    def nearest(self, q: np.ndarray, k: int, c: Connection) -> dict[int, float]:
        """The tenant's ``k`` nearest vectors (key -> cosine), in ``c``'s transaction. An iterative HNSW
        scan, so the other tenants' rows in the shared index cannot crowd this tenant's out."""
        dim = self.embedder.dim
        c.execute(text("SELECT set_config('hnsw.ef_search', :ef, true), "
                       "set_config('hnsw.iterative_scan', 'strict_order', true)"), {"ef": str(max(EF_SEARCH, k))})
        rows = c.execute(text(
            f"SELECT key, 1 - ((embedding::vector({dim})) <=> CAST(:q AS vector({dim}))) FROM {VECTORS} "
            f"WHERE tenant_id = :t AND dim = :d ORDER BY (embedding::vector({dim})) <=> CAST(:q AS vector({dim})) "
            "LIMIT :k"), {"q": _literal(q), "t": self.tenant_id, "d": dim, "k": k}).all()
        return {int(r[0]): float(r[1]) for r in rows}

    def search(self, query: str, k: int = 5) -> list[Source]:
        """The hybrid ranking of `deskhand.ai.retrieve.Retriever` (dense max-sim + weighted BM25), read
        from PostgreSQL in one transaction."""
        if k <= 0:
            return []
        from deskhand.ai.retrieve import query_embedder

        q = query_embedder(self.embedder).embed([query])[0]
        with self.engine.begin() as c:
            return self._search(c, query, q, k)

    def _search(self, c: Connection, query: str, q: np.ndarray, k: int) -> list[Source]:
        from deskhand.ai.retrieve import CANDIDATES, LEXICAL_WEIGHT, MIN_SIMILARITY, source_title
        from deskhand.index.tenants import stored_chunk

        lexical_all = self.bm25(self.analyzer.terms(query), c)
        lexical = sorted(((v[0], v[1], cid) for cid, v in lexical_all.items() if v[0] > 0),
                         key=lambda x: (-x[0], x[1]))[:CANDIDATES]
        top_bm25 = lexical[0][0] if lexical else 1.0
        known = self.nearest(q, 2 * CANDIDATES, c)
        if not known and not lexical:
            return []
        dim = self.embedder.dim
        cosine = f"1 - ((v.embedding::vector({dim})) <=> CAST(:q AS vector({dim})))"
        stmt = text(  # every candidate with the cosines of its body and title vectors, in one statement
            "SELECT d.chunk_id, d.source_id, d.ordinal, d.kind, d.title, d.heading, d.url, d.text, "
            f"(SELECT {cosine} FROM {VECTORS} v WHERE v.tenant_id = d.tenant_id AND v.key = d.body_key) AS body_cos, "
            f"(SELECT {cosine} FROM {VECTORS} v WHERE v.tenant_id = d.tenant_id AND v.key = d.title_key) AS title_cos "
            f"FROM {DOCS} d WHERE d.tenant_id = :t AND (d.chunk_id IN :ids OR d.body_key IN :keys "
            "OR d.title_key IN :keys)"
        ).bindparams(bindparam("ids", expanding=True), bindparam("keys", expanding=True))
        params = {"t": self.tenant_id, "q": _literal(q), "ids": [x[2] for x in lexical] or [""],
                  "keys": list(known) or [-1]}
        docs = [dict(r._mapping) for r in c.execute(stmt, params)]
        lexical_part = {cid: LEXICAL_WEIGHT * s / top_bm25 for s, _, cid in lexical}
        ranked = []
        for d in docs:
            dense = max(float(d["body_cos"]), float(d["title_cos"]) if d["title_cos"] is not None else -1.0)
            ranked.append((dense + lexical_part.get(d["chunk_id"], 0.0), (d["source_id"], d["ordinal"]), dense, d))
        ranked.sort(key=lambda x: (-x[0], x[1]))
        found = []
        for _, _, dense, d in ranked:
            if dense < MIN_SIMILARITY:
                continue
            chunk = stored_chunk(d)
            found.append(Source(id=chunk.id, title=source_title(chunk), text=chunk.text,
                                score=round(min(1.0, max(0.0, dense)), 4), kind=d["kind"], url=d["url"]))
            if len(found) == k:
                break
        return found
