"""One persisted vector index per tenant, in a folder beside the SQLite store.

``<folder of deskhand.db>/deskhand.index/<tenant>.hnsw`` (+ ``.keys``) holds every vector the
tenant's chunks use, keyed by the hash of the embedded text: after a restart nothing is re-embedded,
after a knowledge change only new texts are. Tenants never share an index (isolation, and no foreign
vectors crowding a tenant's nearest neighbours). A store that is not a SQLite file keeps its
indexes in memory only.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

from deskhand.index.hnsw import HnswIndex
from deskhand.index.port import VectorIndex
from deskhand.settings import Settings

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
