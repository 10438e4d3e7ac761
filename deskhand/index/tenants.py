"""One persisted vector index per tenant, in a folder beside the SQLite store.

``<folder of deskhand.db>/deskhand.index/<tenant>.hnsw`` (+ ``.keys``) holds every vector the
tenant's chunks use, keyed by the hash of the embedded text: after a restart nothing is re-embedded,
after a knowledge change only new texts are. Tenants never share an index (isolation, and no foreign
vectors crowding a tenant's nearest neighbours). A PostgreSQL store keeps the index in the database
(``deskhand.index.pgknowledge``); in-memory SQLite keeps it in each process's memory.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from deskhand.index.hnsw import HnswIndex
from deskhand.index.port import VectorIndex
from deskhand.settings import Settings

if TYPE_CHECKING:
    from deskhand.ai.chunk import Chunk
    from deskhand.store import Store

log = logging.getLogger(__name__)


def index_dir(settings: Settings) -> Path | None:
    """The folder beside the SQLite database file (None for other stores and in-memory SQLite)."""
    url = settings.database_url
    if not url.startswith("sqlite:///"):
        return None
    db = url.removeprefix("sqlite:///")
    if not db or db == ":memory:" or db.startswith("file::memory:"):
        return None
    path = Path(db).resolve()
    return path.parent / f"{path.stem}.index"


def index_path(settings: Settings, tenant_id: str) -> Path | None:
    folder = index_dir(settings)
    if folder is None:
        return None
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", tenant_id)[:60]
    return folder / f"{safe}-{hashlib.sha256(tenant_id.encode()).hexdigest()[:8]}.hnsw"


def open_vectors(path: Path | None, dim: int) -> VectorIndex:
    """The persisted index at ``path`` (a fresh one when absent, unreadable or of another width)."""
    if path is not None and path.is_file():
        try:
            return HnswIndex.load(path, dim)
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            log.warning("vector index unreadable, rebuilding", extra={"path": str(path), "error": str(exc)})
    return HnswIndex(dim)


def commit_vectors(index: VectorIndex, path: Path | None, live: set[int]) -> int:
    """Drop vectors no chunk uses any more, then persist; returns how many were dropped."""
    stale = index.keys() - live
    index.delete(stale)
    if path is not None:
        index.save(path)
    return len(stale)


RECENT = 2048  # vectors kept in a tenant's hand-over file (the newest; ~3 MB of MiniLM rows)


def recent_path(path: Path) -> Path:
    """Beside a tenant's index file: the vectors ingest embedded last, for running processes."""
    return path.with_name(path.name + ".recent.npz")


def hand_over(path: Path | None, keys: Sequence[int], vectors: np.ndarray) -> None:
    """Add ingest's newly embedded vectors to the tenant's hand-over file (the newest ``RECENT`` kept):
    a running process applying the knowledge change takes them from there instead of embedding the
    texts again, and never reloads the whole index file."""
    if path is None or not len(keys):
        return
    old_keys, old_rows = _recent(path)
    fresh = {int(k) for k in keys}
    vectors = np.asarray(vectors, dtype=np.float32)
    keep = [i for i, k in enumerate(old_keys.tolist()) if k not in fresh and old_rows.shape[1:] == vectors.shape[1:]]
    all_keys = np.concatenate([old_keys[keep], np.asarray(keys, dtype=np.int64)])[-RECENT:]
    rows = np.concatenate([old_rows[keep], vectors])[-RECENT:] if keep else vectors[-RECENT:]
    target = recent_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, keys=all_keys, rows=rows)
    tmp.replace(target)


def handed_over(path: Path | None, keys: set[int], dim: int) -> tuple[list[int], np.ndarray]:
    """Those of ``keys`` whose vectors the hand-over file holds, and the vectors."""
    if path is None or not keys:
        return [], np.zeros((0, dim), dtype=np.float32)
    stored, rows = _recent(path)
    at = [i for i, k in enumerate(stored.tolist()) if k in keys]
    if not at or rows.shape[1:] != (dim,):
        return [], np.zeros((0, dim), dtype=np.float32)
    return [int(stored[i]) for i in at], rows[at]


def _recent(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(recent_path(path)) as data:
            return np.asarray(data["keys"], dtype=np.int64), np.asarray(data["rows"], dtype=np.float32)
    except (OSError, ValueError, KeyError):  # none yet, or unreadable: the texts are embedded instead
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)


def stored_chunk(row: dict[str, Any]) -> Chunk:
    """A ``kb_chunks`` row as the retriever's chunk."""
    from deskhand.ai.chunk import Chunk

    heading = row.get("heading")
    return Chunk(
        source_id=row["source_id"], index=row["ordinal"], title=row["title"],
        heading_path=tuple(heading.split(" > ")) if heading else (), text=row["text"], hash="",
    )


@dataclass(frozen=True, slots=True)
class IndexReport:
    embedded: int  # texts embedded now
    reused: int  # texts whose vector was already stored
    dropped: int  # vectors no chunk uses any more
    path: Path | None  # where the index is kept (None: in each process's memory)


def embed_knowledge(
    settings: Settings, store: Store, tenant_id: str, *, progress: Callable[[int, int], None] | None = None,
    rows: Sequence[dict[str, Any]] | None = None,
) -> IndexReport:
    """Bring the tenant's persisted vector index up to date with its stored chunks: embed only texts
    it lacks, drop vectors no chunk uses, save. The one place knowledge is embedded at ingest
    (``deskhand kb add``); ``Runtime.retrieve`` then loads the file instead of embedding.
    On PostgreSQL the index is in the database (``deskhand.index.pgknowledge``: pgvector + persisted
    BM25), brought up to date article by article (only new or changed articles are read and embedded).
    In-memory SQLite keeps indexes in process memory: nothing to persist, each process embeds at its
    first search."""
    from deskhand.ai.embed import default_embedder
    from deskhand.ai.retrieve import embed_missing, vector_texts

    if store.engine.dialect.name == "postgresql":
        from deskhand.index.pgknowledge import PgKnowledge, available

        if not available(store.engine, default_embedder().dim):
            return IndexReport(0, 0, 0, None)  # no pgvector: each process embeds at its first search
        embedded, reused, dropped = PgKnowledge(store.engine, tenant_id, default_embedder()).sync(
            store, progress=progress)
        return IndexReport(embedded, reused, dropped, None)
    path = index_path(settings, tenant_id)
    if path is None:
        return IndexReport(0, 0, 0, None)
    embedder = default_embedder()
    chunks = [stored_chunk(r) for r in (store.chunks(tenant_id) if rows is None else rows)]
    texts = vector_texts(chunks, embedder)
    index = open_vectors(path, embedder.dim)
    new = sorted(set(texts) - index.keys())
    embedded = embed_missing(index, embedder, texts, progress=progress)
    hand_over(path, new, index.vectors(new))  # before the whole file is saved: running processes take them now
    dropped = commit_vectors(index, path, set(texts))
    return IndexReport(embedded, len(texts) - embedded, dropped, path)
