"""`deskhand eval retrieval` and `deskhand bench retrieval`: figures printed with the documented keys."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deskhand.cli import app
from deskhand.eval.retrieval import Query, load, rank_of, summary

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DESKHAND_SHARED_DIR") or REPO.parent / "shared")
EVAL_KEYS = {"queries", "recall@1", "recall@5", "mrr@10", "latency_ms_p50", "latency_ms_p95"}
BENCH_KEYS = {"chunks", "build_s", "embed_per_s", "query_ms_p50", "query_ms_p95", "rss_mb"}


@pytest.mark.parametrize(
    ("gold", "ranked", "expected"),
    [
        ({"a"}, ["a", "b"], 0),
        ({"b"}, ["a", "a", "b"], 1),  # a source's second chunk is not a new rank
        ({"z"}, [str(i) for i in range(20)], None),  # beyond MRR@10
    ],
)
def test_rank_counts_distinct_sources(gold: set[str], ranked: list[str], expected: int | None) -> None:
    assert rank_of(frozenset(gold), ranked) == expected


def test_summary_metrics() -> None:
    s = summary("x", 10, [0, 1, None, 6], [1.0, 2.0, 3.0, 4.0])
    assert s["recall@1"] == 0.25 and s["recall@5"] == 0.5 and s["mrr@10"] == round((1 + 0.5 + 1 / 7) / 4, 4)


def write_stackfaq(folder: Path) -> None:
    folder.mkdir()
    docs = [
        {"id": "faq-0", "title": "How do I delete my account?", "answers": ["Go to settings and choose delete."]},
        {"id": "faq-1", "title": "Strikethrough text in Markdown", "answers": ["Wrap the words in ~~tildes~~."]},
        {"id": "faq-2", "title": "Export my contacts to a spreadsheet", "answers": ["Use Export as CSV."]},
    ]
    (folder / "kb.jsonl").write_text("\n".join(json.dumps(d) for d in docs))
    queries = [{"query": "remove my profile for good", "gold": "faq-0"}, {"query": "cross out words", "gold": "faq-1"},
               {"query": "download contacts as csv", "gold": "faq-2"}]
    (folder / "queries_dev.jsonl").write_text("\n".join(json.dumps(q) for q in queries))


def test_eval_retrieval_prints_the_documented_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKHAND_CACHE_DIR", str(tmp_path / "cache"))
    write_stackfaq(tmp_path / "faq")
    args = ["eval", "retrieval", "--dataset", str(tmp_path / "faq"), "--split", "dev", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures.keys() >= EVAL_KEYS and figures["queries"] == 3 and figures["recall@5"] == 1.0
    assert (tmp_path / "cache" / "retrieval-vectors.npz").is_file()  # a rerun embeds nothing new


@pytest.mark.skipif(not (SHARED / "eval" / "dstc11").is_dir(), reason="shared eval data absent")
def test_dstc11_queries_carry_their_thread_as_context() -> None:
    data = load(SHARED / "eval" / "dstc11", "dev")
    assert data.queries and all(isinstance(q, Query) and q.context for q in data.queries[:50])
    assert {c.source_id for c in data.chunks} >= set(data.queries[0].gold)


@pytest.mark.skipif(not (SHARED / "eval" / "stackfaq").is_dir(), reason="shared eval data absent")
def test_bench_retrieval_reports_the_documented_figures(tmp_path: Path) -> None:
    from deskhand.bench.retrieval import run

    figures = run(2000, queries=20, sample=16, root=SHARED)
    assert figures.keys() >= BENCH_KEYS and figures["chunks"] == 2000
    assert figures["ann_recall@5"] >= 0.95 and figures["query_ms_p95"] > 0
