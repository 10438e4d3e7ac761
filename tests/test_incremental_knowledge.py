"""A knowledge change reaches a running process incrementally (issue 25): the changed articles' chunks
only are read, their BM25 postings, names and vectors alone change, and every answer equals that of an
index built afresh over the same stored chunks."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import pytest

from deskhand.ai import embed
from deskhand.ai.chunk import Chunk
from deskhand.ai.retrieve import Retriever
from deskhand.bench.tenants import WORDS
from deskhand.index import Analyzer, Bm25Index, ExactIndex
from deskhand.index import tenants as tenant_index
from deskhand.index.tenants import embed_knowledge
from deskhand.knowledge import Document, add_documents
from deskhand.runtime import KnowledgeIndex, Runtime
from deskhand.settings import Settings
from deskhand.store import Store

DIM = 48


class HashingEmbedder:
    """Deterministic bag-of-words vectors (each word a fixed random direction): the same text is the same
    row whatever else is in its batch, so two indexes over the same texts hold equal vectors."""

    name = "hashing-test"
    dim = DIM

    def __init__(self) -> None:
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        rows = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                seed = int(hashlib.sha256(word.encode()).hexdigest()[:8], 16)
                rows[i] += np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
            rows[i] += 1e-3  # never the zero row
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture
def hashing(monkeypatch: pytest.MonkeyPatch) -> HashingEmbedder:
    embedder = HashingEmbedder()
    monkeypatch.setattr(embed, "_default", embedder)
    return embedder


@pytest.fixture
def exact_vectors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exact vector search in the runtime, so that equal answers test the index's bookkeeping, not how
    two HNSW graphs built in another order happen to approximate."""
    monkeypatch.setattr(tenant_index, "open_vectors", lambda path, dim: ExactIndex(dim))


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'deskhand.db'}", home=tmp_path)
    rt = Runtime(Store.open(settings), settings)
    yield rt
    rt.close()


def article(rng: random.Random, i: int, *, title: str | None = None) -> Document:
    sections = "\n\n".join(f"## {' '.join(rng.choices(WORDS, k=2))}\n\n{' '.join(rng.choices(WORDS, k=14))}."
                           for _ in range(rng.randint(1, 3)))
    return Document(f"kb/{i}", title or " ".join(rng.choices(WORDS, k=3)).capitalize(), sections)


def queries(rng: random.Random, n: int = 25) -> list[str]:
    return [" ".join(rng.choices(WORDS, k=rng.randint(1, 6))) for _ in range(n)]


def same(got: list[Any], expected: list[Any]) -> bool:
    """Equal answers: the same chunks in the same order, scores equal but for float rounding (BLAS sums a
    row's products in an order that depends on where the row sits in the matrix)."""
    if [(h.chunk.id if hasattr(h, "chunk") else h.id) for h in got] != [
            (h.chunk.id if hasattr(h, "chunk") else h.id) for h in expected]:
        return False
    return all(abs(a.score - b.score) <= 2e-4 and getattr(a, "kind", None) == getattr(b, "kind", None)
               for a, b in zip(got, expected, strict=True))


def fresh_answers(store: Store, tenant: str, asked: list[str]) -> list[Any]:
    full = KnowledgeIndex(store.chunks(tenant), None, ExactIndex(DIM), hashes=store.kb_hashes(tenant))
    return [full.search(q, k=8) for q in asked]


def test_every_kind_of_change_answers_as_a_full_rebuild(
    runtime: Runtime, hashing: HashingEmbedder, exact_vectors: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(25)
    store = runtime.store
    docs = [article(rng, i) for i in range(60)]
    docs.append(Document("kb/twin-a", "Twin", "printer firmware update error"))  # two chunks, one text
    docs.append(Document("kb/twin-b", "Twin", "printer firmware update error"))
    add_documents(store, "acme", docs)
    asked = queries(rng)
    got = [runtime.retrieve("acme", q, k=8) for q in asked]
    assert all(map(same, got, fresh_answers(store, "acme", asked)))
    built = runtime._retrievers.get("acme")

    read: list[Any] = []
    chunks = store.chunks
    monkeypatch.setattr(store, "chunks", lambda tenant, **kw: read.append(kw.get("sources")) or chunks(tenant, **kw))
    changes = [
        ("new articles", lambda: add_documents(store, "acme", [article(rng, i) for i in range(100, 104)])),
        ("a body edited, its title kept", lambda: add_documents(store, "acme", [
            Document("kb/3", docs[3].title, "refund invoice billing csv export timeout")])),
        ("a title changed", lambda: add_documents(store, "acme", [article(rng, 5, title="Okta sso saml login")])),
        ("an article removed", lambda: store.remove_article("acme", "kb/7")),
        ("one of two chunks sharing a vector removed", lambda: store.remove_article("acme", "kb/twin-a")),
        ("a solved ticket", lambda: add_documents(store, "acme", [Document(
            "tickets/desk/9", "Printer offline", "Restart the printer, then update its firmware from the admin "
            "dashboard.", None, "resolved_ticket")])),
        ("several at once", lambda: (store.remove_article("acme", "kb/11"), add_documents(store, "acme", [
            article(rng, 12), article(rng, 200), article(rng, 201)]))),
    ]
    for what, change in changes:
        read.clear()
        change()
        asked = queries(rng)
        got = [runtime.retrieve("acme", q, k=8) for q in asked]
        # the added or changed articles' chunks only were read, at most once (a removal reads nothing)
        assert len(read) <= 1 and all(r is not None and 1 <= len(r) <= 4 for r in read), (what, read)
        assert bool(read) == (what != "an article removed" and not what.startswith("one of two")), (what, read)
        assert all(map(same, got, fresh_answers(store, "acme", asked))), what
        assert runtime._retrievers.get("acme") is built, what  # changed in place, never rebuilt
        assert any(got), what
    final = runtime._retrievers.get("acme")
    assert len(final) == len(store.chunks("acme"))  # no chunk left behind, none doubled
    assert final.vectors.keys() == final._retriever.vector_keys()  # no stale vector, none missing


def test_a_change_embeds_only_the_new_texts(runtime: Runtime, hashing: HashingEmbedder) -> None:
    rng = random.Random(7)
    add_documents(runtime.store, "acme", [article(rng, i) for i in range(40)])
    runtime.retrieve("acme", "password reset")
    before = hashing.texts
    add_documents(runtime.store, "acme", [Document("tickets/desk/1", "Printer jam", "Open tray two and pull the "
                                                   "paper out.", None, "resolved_ticket")])
    found = runtime.retrieve("acme", "printer jam tray")
    assert found[0].id == "tickets/desk/1#0" and found[0].kind == "resolved_ticket"
    assert hashing.texts - before == 3  # the ticket's chunk, its title, and the query


def test_vectors_embedded_at_ingest_are_handed_over_to_a_running_process(
    runtime: Runtime, hashing: HashingEmbedder
) -> None:
    rng = random.Random(8)
    add_documents(runtime.store, "acme", [article(rng, i) for i in range(30)])
    embed_knowledge(runtime.settings, runtime.store, "acme")
    runtime.retrieve("acme", "password reset")
    for i in range(3):  # each solved ticket indexed at ingest, as `kb tickets` does
        add_documents(runtime.store, "acme", [Document(f"tickets/desk/{i}", f"Printer jam {i}", f"Open tray {i} "
                                                       "and pull the paper out.", None, "resolved_ticket")])
        assert embed_knowledge(runtime.settings, runtime.store, "acme").embedded == 2  # its chunk and title
        before = hashing.texts
        assert runtime.retrieve("acme", f"printer jam {i} tray")[0].id == f"tickets/desk/{i}#0"
        assert hashing.texts - before == 1  # the query alone: the ticket's vectors came from ingest
    kept = runtime._retrievers.get("acme")
    assert kept.vectors.keys() == kept._retriever.vector_keys()


def test_a_retriever_updated_in_place_equals_one_built_afresh() -> None:
    """The same at the library level, with chunks in any order: add, replace and remove."""
    rng = random.Random(3)
    embedder = HashingEmbedder()

    def chunk(source: str, i: int) -> Chunk:
        return Chunk(source, i, " ".join(rng.choices(WORDS, k=3)), (), " ".join(rng.choices(WORDS, k=20)), "")

    live = {f"s{j}": [chunk(f"s{j}", i) for i in range(rng.randint(1, 3))] for j in range(50)}
    grown = Retriever([c for cs in live.values() for c in cs], embedder)
    for step in range(30):
        drop = rng.sample(sorted(live), 2)
        new = {f"s{j}": [chunk(f"s{j}", 0)] for j in rng.sample(range(80), 2)}
        replaced = set(drop) | set(new)
        for source in drop:
            live.pop(source)
        live.update(new)
        grown.replace(replaced, [c for cs in new.values() for c in cs])
        fresh = Retriever(sorted((c for cs in live.values() for c in cs), key=lambda c: (c.source_id, c.index)),
                          embedder)
        for q in queries(rng, 5):
            assert same(grown.hits(q, k=6, context=""), fresh.hits(q, k=6, context="")), (step, q)


def test_incremental_bm25_scores_equal_bm25s_after_adds_and_removes() -> None:
    rng = random.Random(11)
    analyzer = Analyzer()
    docs = {i: " ".join(rng.choices(WORDS, k=rng.randint(0, 25))) for i in range(300)}
    lex = Bm25Index(list(docs.values()))
    slots = dict(zip(docs, range(300), strict=True))
    for gone in rng.sample(sorted(docs), 80):
        lex.remove([slots.pop(gone)])
        docs.pop(gone)
    added = {i: " ".join(rng.choices(WORDS, k=rng.randint(1, 12))) for i in range(300, 340)}
    for (i, text), slot in zip(added.items(), lex.add(list(added.values())), strict=True):
        docs[i], slots[i] = text, slot
    reference = bm25s.BM25()
    order = sorted(docs)
    reference.index([analyzer.terms(docs[i]) or ["\x00"] for i in order], show_progress=False)
    for q in queries(rng, 40):
        known = [t for t in analyzer.terms(q) if t in lex.df]
        _, mine = lex.scores(q)
        if not known:
            assert mine is None
            continue
        expected = reference.get_scores(known)
        assert mine is not None
        assert np.allclose([mine[slots[i]] for i in order], expected, rtol=1e-5, atol=1e-6), q


def test_the_hand_over_file_keeps_the_newest_vectors_and_their_latest_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tenant_index, "RECENT", 4)
    path = tmp_path / "t.hnsw"
    assert tenant_index.handed_over(path, {1}, 3)[0] == []  # nothing handed over yet
    rows = np.eye(3, dtype=np.float32)
    tenant_index.hand_over(path, [1, 2, 3], rows)
    tenant_index.hand_over(path, [3, 4, 5], rows[::-1])  # 3 again, newer; 1 falls out (4 kept)
    keys, vectors = tenant_index.handed_over(path, {1, 2, 3, 5, 9}, 3)
    assert sorted(keys) == [2, 3, 5]
    got = dict(zip(keys, vectors.tolist(), strict=True))
    assert got[3] == [0.0, 0.0, 1.0] and got[5] == [1.0, 0.0, 0.0] and got[2] == [0.0, 1.0, 0.0]
    assert tenant_index.handed_over(path, {2}, 4)[0] == []  # another model's width: not taken
