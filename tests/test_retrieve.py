"""Retrieval over the test knowledge folder: lexical (BM25) and hybrid (BM25 + MiniLM, RRF)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deskhand.ai.chunk import Article, chunk_article, load_folder
from deskhand.ai.embed import default_embedder
from deskhand.ai.retrieve import Analyzer, Retriever, rrf
from deskhand.model import Source

KB = Path(__file__).parent / "data" / "kb"

QUERIES = [
    ("I never got the password reset email", "account/reset-password.md"),
    ("lost my phone and can't get the 2FA code", "account/two-factor-authentication.md"),
    ("you charged me twice, I want a refund", "billing/refunds-and-invoices.md"),
    ("how do I cancel my subscription", "billing/change-plan.md"),
    ("API keeps returning 429 too many requests", "developers/api-rate-limits.html"),
    ("how to check the HMAC signature of webhook requests", "developers/webhooks.md"),
    ("the app is not loading, is there an outage? error 503", "service-status.txt"),
    ("export all contacts to a spreadsheet", "data-export.md"),
]


@pytest.fixture(scope="module")
def chunks() -> list:
    return [c for a in load_folder(KB) for c in chunk_article(a)]


@pytest.fixture(scope="module")
def lexical(chunks: list) -> Retriever:
    return Retriever(chunks)


@pytest.fixture(scope="module")
def hybrid(chunks: list) -> Retriever:
    return Retriever(chunks, default_embedder())


@pytest.mark.parametrize(("query", "source"), QUERIES, ids=[s for _, s in QUERIES])
def test_lexical_search_finds_the_right_article_first(lexical: Retriever, query: str, source: str) -> None:
    results = lexical.search(query, k=3)
    assert results and results[0].id.split("#")[0] == source, [(r.id, r.score) for r in results]


@pytest.mark.parametrize(("query", "source"), QUERIES, ids=[s for _, s in QUERIES])
def test_hybrid_search_finds_the_right_article_first(hybrid: Retriever, query: str, source: str) -> None:
    results = hybrid.search(query, k=3)
    assert results[0].id.split("#")[0] == source, [(r.id, r.score) for r in results]


def test_dense_part_ranks_a_paraphrase_without_the_articles_words(hybrid: Retriever) -> None:
    hits = hybrid.hits("I want my money back for the double payment", k=3)  # the article says "refund"
    assert hits[0].chunk.source_id == "billing/refunds-and-invoices.md"
    assert hits[0].cosine is not None and hits[0].cosine == max(h.cosine or 0 for h in hits)


def test_results_are_sources_with_scores_in_unit_range(hybrid: Retriever, lexical: Retriever) -> None:
    for retriever in (hybrid, lexical):
        results = retriever.search("reset password email", k=5)
        assert all(isinstance(r, Source) and 0.0 <= r.score <= 1.0 for r in results)
        assert results[0].title == "Resetting your password"
        assert results[0].kind == "knowledge_base"
        assert "Forgot password?" in results[0].text


def test_hybrid_score_is_the_dense_cosine_and_separates_on_and_off_topic(hybrid: Retriever) -> None:
    on_topic = hybrid.hits("how do I verify webhook signatures", k=1)[0]
    assert on_topic.score == pytest.approx(on_topic.cosine) and on_topic.score > 0.5
    off_topic = hybrid.search("what is the capital of France", k=1)[0]
    assert off_topic.score < 0.2


def test_lexical_score_is_idf_weighted_query_coverage(lexical: Retriever) -> None:
    assert lexical.search("export contacts csv", k=1)[0].score == pytest.approx(1.0)
    partial = lexical.hits("export contacts zebra", k=1)[0]
    assert 0.2 < partial.score < 0.9 and partial.coverage == partial.score


def test_lexical_search_returns_nothing_for_unknown_words(lexical: Retriever) -> None:
    assert lexical.search("capital France", k=5) == []
    assert lexical.search("", k=5) == []


def test_k_bounds_the_result_count(hybrid: Retriever) -> None:
    assert len(hybrid.search("billing", k=2)) == 2
    assert hybrid.search("billing", k=0) == []


def test_an_empty_knowledge_base_returns_nothing() -> None:
    assert Retriever([]).search("anything") == []


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("How do I reset my Passwords?", ["reset", "password"]),
        ("Exporting the invoices, billing", ["export", "invoic", "bill"]),
        ("can't log in to the app", ["log", "app"]),
    ],
    ids=["stopwords-and-plural", "stems", "contraction"],
)
def test_analyzer_lowercases_drops_stopwords_and_stems(text: str, terms: list[str]) -> None:
    assert Analyzer().terms(text) == terms


def test_rank_fusion_rewards_agreement() -> None:
    assert rrf([[1, 2, 3], [3, 2, 1], [2, 9]])[0] == 2


def test_more_specific_section_wins_inside_a_long_article() -> None:
    text = "# Guide\n\n" + "\n\n".join(
        f"## Topic {name}\n\n" + f"All about {name}. " * 60 for name in ("apples", "pears", "plums")
    )
    chunks = chunk_article(Article("guide.md", "Guide", text, "markdown"), target=100, limit=150)
    top = Retriever(chunks).search("pears", k=1)[0]
    assert "pears" in top.text and "Topic pears" in top.title
