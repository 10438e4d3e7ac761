"""Retrieval quality on public datasets: recall@1, recall@5, MRR@10 and query latency.

Datasets (``--dataset`` is a folder; its kind is recognised by its files):
- StackFAQ (``kb.jsonl`` + ``queries_<split>.jsonl``): one article per thread (title = the question,
  body = the answers, chunked like any article); a query's gold is its thread.
- DSTC11 track 5 (``knowledge.json`` + ``val_logs.json`` + ``val_labels.json``): one document per FAQ
  (question + answer) and per review, titled by its entity (hotel or restaurant). Queries are the
  knowledge-seeking user turns; the earlier turns are passed as ``context`` (they name the entity).
  Only the validation split is public: its turns alternate into ``dev`` (even) and ``test`` (odd).
- ABCD (``guidelines.json``): distractors only, one document per subflow of the agent guidelines.

Distractors are added to the same index. Ranks count distinct sources (a thread's chunks are one).
Vectors are cached in a persisted index (only texts not seen before are embedded).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deskhand.ai.chunk import Article, Chunk, chunk_article
from deskhand.ai.embed import Embedder
from deskhand.index import ExactIndex, VectorIndex

DEPTH = 10  # ranks looked at (MRR@10)


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    gold: frozenset[str]  # source ids
    context: str | None = None


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    chunks: list[Chunk]
    queries: list[Query]


def load(path: Path, split: str) -> Dataset:
    """The dataset in ``path`` (its knowledge and the ``split``'s queries)."""
    if (path / "kb.jsonl").is_file():
        return _stackfaq(path, split)
    if (path / "knowledge.json").is_file():
        return _dstc11(path, split)
    if (path / "guidelines.json").is_file():
        return Dataset("abcd", _abcd(path), [])
    raise FileNotFoundError(f"{path} holds no known dataset (kb.jsonl, knowledge.json or guidelines.json)")


def _stackfaq(path: Path, split: str) -> Dataset:
    chunks: list[Chunk] = []
    for line in (path / "kb.jsonl").read_text().splitlines():
        doc = json.loads(line)
        body = "\n\n".join(doc["answers"])
        chunks += chunk_article(Article(f"stackfaq/{doc['id']}", doc["title"], body, "markdown"))
    queries = []
    file = path / f"queries_{split}.jsonl"
    if file.is_file():
        for line in file.read_text().splitlines():
            q = json.loads(line)
            queries.append(Query(q["query"], frozenset({f"stackfaq/{q['gold']}"})))
    return Dataset("stackfaq", chunks, queries)


def _dstc11(path: Path, split: str) -> Dataset:
    knowledge = json.loads((path / "knowledge.json").read_text())
    chunks = []
    for domain, entities in knowledge.items():
        for eid, entity in entities.items():
            name = entity.get("name") or f"{domain} {eid}"
            for did, faq in (entity.get("faqs") or {}).items():
                text = f"{faq['question']}\n{faq['answer']}"
                chunks.append(_doc(f"dstc11/{domain}/{eid}/faq/{did}", name, text))
            for did, review in (entity.get("reviews") or {}).items():
                text = " ".join(review["sentences"][s] for s in sorted(review["sentences"], key=int))
                chunks.append(_doc(f"dstc11/{domain}/{eid}/review/{did}", name, text))
    queries = []
    logs_file, labels_file = path / "val_logs.json", path / "val_labels.json"
    if logs_file.is_file() and labels_file.is_file():
        logs, labels = json.loads(logs_file.read_text()), json.loads(labels_file.read_text())
        turns = [(log, label) for log, label in zip(logs, labels, strict=True) if label.get("target")]
        want = 0 if split == "dev" else 1
        for n, (log, label) in enumerate(turns):
            if n % 2 != want:
                continue
            gold = frozenset(
                f"dstc11/{k['domain']}/{k['entity_id']}/{k['doc_type']}/{k['doc_id']}" for k in label["knowledge"]
            )
            context = "\n".join(t["text"] for t in log[:-1])
            queries.append(Query(log[-1]["text"], gold, context))
    return Dataset("dstc11", chunks, queries)


def _abcd(path: Path) -> list[Chunk]:
    guidelines = json.loads((path / "guidelines.json").read_text())
    chunks = []
    for flow, body in guidelines.items():
        for sub, detail in (body.get("subflows") or {}).items():
            lines = [f"{sub}: {body.get('description', '')}"]
            for action in detail.get("actions", []):
                lines.append(action.get("text", ""))
                lines += [f"- {s}" for s in action.get("subtext", [])]
            chunks.append(_doc(f"abcd/{flow}/{sub}", f"{flow} › {sub}", "\n".join(x for x in lines if x)))
    return chunks


def _doc(source_id: str, title: str, text: str) -> Chunk:
    import hashlib

    return Chunk(source_id, 0, title, (), text, hashlib.sha256(text.encode()).hexdigest()[:16])


def cache_index(dim: int) -> tuple[VectorIndex, Path | None]:
    """The persisted vector cache of evaluations (``$DESKHAND_CACHE_DIR``, default ~/.cache/deskhand)."""
    root = os.environ.get("DESKHAND_CACHE_DIR") or Path.home() / ".cache" / "deskhand"
    path = Path(root) / "retrieval-vectors.npz"
    try:
        return (ExactIndex.load(path, dim) if path.is_file() else ExactIndex(dim)), path
    except (OSError, ValueError, KeyError):
        return ExactIndex(dim), path


def evaluate(
    dataset: Dataset,
    distractors: Iterable[Dataset] = (),
    *,
    embedder: Embedder | None,
    index: VectorIndex | None = None,
    limit: int | None = None,
    **retriever_options: Any,
) -> dict[str, Any]:
    """Recall@1, recall@5, MRR@10 and per-query latency (embedding and lexical side included)."""
    from deskhand.ai.retrieve import Retriever

    chunks = list(dataset.chunks)
    for extra in distractors:
        chunks += extra.chunks
    retriever = Retriever(chunks, embedder, index=index, **retriever_options)
    queries = dataset.queries[:limit] if limit else dataset.queries
    ranks, latencies = [], []
    for q in queries:
        started = time.perf_counter()
        hits = retriever.hits(q.text, k=4 * DEPTH, context=q.context)
        latencies.append((time.perf_counter() - started) * 1000)
        ranks.append(rank_of(q.gold, [h.chunk.source_id for h in hits]))
    return summary(dataset.name, len(chunks), ranks, latencies)


def rank_of(gold: frozenset[str], sources: Sequence[str]) -> int | None:
    """0-based rank of the first gold source among distinct sources (None: not in the first DEPTH)."""
    seen: list[str] = []
    for s in sources:
        if s not in seen:
            seen.append(s)
            if s in gold:
                return len(seen) - 1
            if len(seen) == DEPTH:
                break
    return None


def summary(name: str, chunks: int, ranks: Sequence[int | None], latencies: Sequence[float]) -> dict[str, Any]:
    n = max(1, len(ranks))
    return {
        "dataset": name,
        "chunks": chunks,
        "queries": len(ranks),
        "recall@1": round(sum(1 for r in ranks if r is not None and r < 1) / n, 4),
        "recall@5": round(sum(1 for r in ranks if r is not None and r < 5) / n, 4),
        "mrr@10": round(sum(1 / (r + 1) for r in ranks if r is not None) / n, 4),
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 2) if latencies else 0.0,
        "latency_ms_p95": round(float(np.percentile(latencies, 95)), 2) if latencies else 0.0,
    }
