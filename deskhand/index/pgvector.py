"""The vector index on PostgreSQL with pgvector: one table of (tenant, key, vector), cosine distance
through an HNSW index, so every gateway and worker process on every machine shares one index.

The table lives outside the store's migrations on purpose: the store's schema must migrate on any
PostgreSQL, and pgvector is an extension not every server has. `PgVectorIndex.ensure()` creates the
extension (where the role may), the table and its HNSW index, idempotently. Vectors are unit-norm, so
cosine similarity is `1 - (embedding <=> query)`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, text

from deskhand.errors import ConfigError

log = logging.getLogger(__name__)
TABLE = "deskhand_vectors"


def _literal(row: np.ndarray) -> str:
    return "[" + ",".join(f"{float(x):.7g}" for x in row) + "]"


def _parse(value: str) -> np.ndarray:
    return np.asarray([float(x) for x in value.strip("[]").split(",")], dtype=np.float32)


class PgVectorIndex:
    """`VectorIndex` over one tenant's rows of the shared pgvector table."""

    kind = "pgvector"

    def __init__(self, engine: Engine, tenant_id: str, dim: int, *, ensure: bool = True) -> None:
        if engine.dialect.name != "postgresql":
            raise ConfigError("the pgvector index needs a PostgreSQL DESKHAND_DATABASE_URL")
        self.engine = engine
        self.tenant_id = tenant_id
        self.dim = dim
        if ensure:
            self.ensure()

    def ensure(self) -> None:
        """Create the extension, the table and its HNSW index (idempotent)."""
        with self.engine.begin() as c:
            has = c.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")).first()
            if has is None:
                try:
                    c.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
                except Exception as exc:
                    raise ConfigError(
                        "this PostgreSQL has no pgvector extension: install pgvector on the server "
                        "(or use the embedded index backends)"
                    ) from exc
            c.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {TABLE} (tenant_id TEXT NOT NULL, key BIGINT NOT NULL, "
                    f"dim INTEGER NOT NULL, embedding vector NOT NULL, PRIMARY KEY (tenant_id, key))"
                )
            )
        with self.engine.begin() as c:  # an HNSW index needs a fixed dimension: one partial index per dim
            c.execute(
                text(
                    f"CREATE INDEX IF NOT EXISTS {TABLE}_hnsw_{self.dim} ON {TABLE} "
                    f"USING hnsw ((embedding::vector({self.dim})) vector_cosine_ops) WHERE dim = {self.dim}"
                )
            )

    def __len__(self) -> int:
        with self.engine.connect() as c:
            q = text(f"SELECT count(*) FROM {TABLE} WHERE tenant_id = :t AND dim = :d")
            return int(c.execute(q, {"t": self.tenant_id, "d": self.dim}).scalar_one())

    def keys(self) -> set[int]:
        with self.engine.connect() as c:
            q = text(f"SELECT key FROM {TABLE} WHERE tenant_id = :t AND dim = :d")
            return {int(r[0]) for r in c.execute(q, {"t": self.tenant_id, "d": self.dim})}

    def upsert(self, keys: Sequence[int], vectors: np.ndarray) -> None:
        rows = np.asarray(vectors, dtype=np.float32).reshape(len(keys), self.dim)
        if not len(keys):
            return
        params = [
            {"t": self.tenant_id, "k": int(k), "d": self.dim, "v": _literal(row)}
            for k, row in zip(keys, rows, strict=True)
        ]
        stmt = text(
            f"INSERT INTO {TABLE} (tenant_id, key, dim, embedding) VALUES (:t, :k, :d, CAST(:v AS vector)) "
            "ON CONFLICT (tenant_id, key) DO UPDATE SET dim = EXCLUDED.dim, embedding = EXCLUDED.embedding"
        )
        with self.engine.begin() as c:
            c.execute(stmt, params)

    def delete(self, keys: Iterable[int]) -> None:
        gone = [int(k) for k in keys]
        if not gone:
            return
        with self.engine.begin() as c:
            c.execute(
                text(f"DELETE FROM {TABLE} WHERE tenant_id = :t AND key = ANY(:keys)"),
                {"t": self.tenant_id, "keys": gone},
            )

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        if k <= 0:
            return []
        q = _literal(np.asarray(vector, dtype=np.float32).reshape(self.dim))
        stmt = text(
            f"SELECT key, 1 - ((embedding::vector({self.dim})) <=> CAST(:q AS vector({self.dim}))) AS score "
            f"FROM {TABLE} WHERE tenant_id = :t AND dim = :d "
            f"ORDER BY (embedding::vector({self.dim})) <=> CAST(:q AS vector({self.dim})), key LIMIT :k"
        )
        with self.engine.connect() as c:
            rows = c.execute(stmt, {"q": q, "t": self.tenant_id, "d": self.dim, "k": k}).all()
        return [(int(r[0]), float(r[1])) for r in rows]

    def vectors(self, keys: Sequence[int]) -> np.ndarray:
        if not keys:
            return np.zeros((0, self.dim), np.float32)
        with self.engine.connect() as c:
            rows = c.execute(
                text(f"SELECT key, embedding::text FROM {TABLE} WHERE tenant_id = :t AND key = ANY(:keys)"),
                {"t": self.tenant_id, "keys": [int(k) for k in keys]},
            ).all()
        found = {int(r[0]): _parse(r[1]) for r in rows}
        return np.vstack([found[int(k)] for k in keys])  # KeyError for an unknown key, as the port says

    def save(self, path: Path) -> None:
        """Nothing to do: every write is already committed in PostgreSQL."""
