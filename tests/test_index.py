"""Vector index backends (exact numpy, HNSW) behind one port: upsert, delete, search, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deskhand.index import Bm25Index, ExactIndex, HnswIndex, VectorIndex, key_of
from deskhand.index.tenants import commit_vectors, index_path, open_vectors
from deskhand.settings import Settings

DIM = 16


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(params=["exact", "hnsw"])
def index(request: pytest.FixtureRequest) -> VectorIndex:
    return ExactIndex(DIM) if request.param == "exact" else HnswIndex(DIM, capacity=16)


def test_backends_satisfy_the_port(index: VectorIndex) -> None:
    assert isinstance(index, VectorIndex)


def test_search_returns_the_nearest_key_with_its_cosine_best_first(index: VectorIndex) -> None:
    rows = unit(np.random.default_rng(0).standard_normal((200, DIM)))
    index.upsert(list(range(1, 201)), rows)  # grows past the initial capacity
    found = index.search(rows[41], 3)
    assert found[0][0] == 42 and found[0][1] == pytest.approx(1.0, abs=1e-4)
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    assert len(index) == 200


def test_upsert_replaces_a_key_and_delete_removes_it(index: VectorIndex) -> None:
    rows = unit(np.eye(DIM, dtype=np.float32)[:4] + 0.01)
    index.upsert([1, 2, 3, 4], rows)
    index.upsert([2], rows[[3]])
    assert np.allclose(index.vectors([2]), rows[[3]], atol=1e-5)
    index.delete([4, 99])
    assert index.keys() == {1, 2, 3}
    assert 4 not in {k for k, _ in index.search(rows[3], 4)}
    index.upsert([4], rows[[3]])  # a deleted key comes back
    assert index.keys() == {1, 2, 3, 4}


def test_empty_index_and_k_zero_return_nothing(index: VectorIndex) -> None:
    assert index.search(np.ones(DIM, dtype=np.float32) / 4, 5) == []
    index.upsert([7], unit(np.ones((1, DIM))))
    assert index.search(np.ones(DIM, dtype=np.float32) / 4, 0) == []


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_saved_index_loads_with_the_same_keys_and_answers(tmp_path: Path, kind: str) -> None:
    rows = unit(np.random.default_rng(1).standard_normal((50, DIM)))
    idx: VectorIndex = ExactIndex(DIM) if kind == "exact" else HnswIndex(DIM)
    idx.upsert(list(range(50)), rows)
    idx.delete([3])
    path = tmp_path / f"v.{kind}"
    idx.save(path)
    back = ExactIndex.load(path, DIM) if kind == "exact" else HnswIndex.load(path, DIM)
    assert back.keys() == idx.keys()
    assert back.search(rows[10], 1)[0][0] == 10


def test_hnsw_recall_at_5_stays_above_95_percent_of_exact() -> None:
    rng = np.random.default_rng(2)
    base = unit(rng.standard_normal((64, DIM)))
    rows = unit(base[rng.integers(0, 64, 3000)] + 0.3 * rng.standard_normal((3000, DIM)))
    exact, hnsw = ExactIndex(DIM), HnswIndex(DIM, capacity=3000, threads=2)
    exact.upsert(list(range(3000)), rows)
    hnsw.upsert(list(range(3000)), rows)
    queries = unit(base[rng.integers(0, 64, 100)] + 0.3 * rng.standard_normal((100, DIM)))
    shares = [len({k for k, _ in exact.search(q, 5)} & {k for k, _ in hnsw.search(q, 5)}) / 5 for q in queries]
    assert np.mean(shares) >= 0.95


def test_key_of_is_stable_and_positive() -> None:
    assert key_of("hello") == key_of("hello") != key_of("hello!")
    assert 0 < key_of("x") < 2**63


def test_tenant_indexes_live_beside_the_sqlite_file_and_in_memory_otherwise(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/deskhand.db")
    a, b = index_path(settings, "acme"), index_path(settings, "globex")
    assert a is not None and b is not None and a != b and a.parent == tmp_path / "deskhand.index"
    assert index_path(Settings(database_url="sqlite:///:memory:"), "acme") is None
    assert index_path(Settings(database_url="postgresql://x/y"), "acme") is None


def test_commit_drops_vectors_no_chunk_uses_and_persists(tmp_path: Path) -> None:
    path = tmp_path / "t.hnsw"
    idx = open_vectors(path, DIM)
    idx.upsert([1, 2, 3], unit(np.ones((3, DIM))))
    assert commit_vectors(idx, path, {1, 3}) == 1
    assert open_vectors(path, DIM).keys() == {1, 3}
    assert open_vectors(path, DIM + 1).keys() == set()  # another model width: start afresh


def test_bm25_ranks_documents_with_the_query_terms() -> None:
    lex = Bm25Index(["reset your password", "refund an invoice", "password manager tips and password rules"])
    found = lex.search("password reset", 3)
    assert found[0][0] == 0 and {i for i, _ in found} == {0, 2}
    assert lex.search("kangaroo", 3) == []
