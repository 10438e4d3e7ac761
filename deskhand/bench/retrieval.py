"""Retrieval benchmark: index build time, embedding throughput, query latency and memory at N chunks.

Real text where it matters, synthetic data for size:
- embedding throughput: real StackFAQ answer paragraphs embedded by ``OnnxMiniLM``, and the same
  texts through bare onnxruntime (tokenizer → session → mean pooling, nothing else) for comparison;
- N chunks: vectors are mixtures of real MiniLM vectors plus noise (a random-direction cloud would
  understate what HNSW does on real embeddings), texts are sampled from the real vocabulary with its
  word frequencies (so BM25 posting lists are as skewed as in real text);
- queries: real StackFAQ questions through ``Retriever.hits`` (query embedding, HNSW search, BM25 and
  the fusion all included), and the approximate index's recall@5 against exact search.
"""

from __future__ import annotations

import json
import os
import re
import resource
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deskhand.ai.chunk import Chunk
from deskhand.ai.embed import OnnxMiniLM, model_file, pool, tokenizer_file

WORDS_PER_CHUNK = 60
QUERIES = 200


def shared_dir() -> Path:
    return Path(os.environ.get("DESKHAND_SHARED_DIR") or Path.cwd().parent / "shared")


def real_texts(root: Path | None = None) -> tuple[list[str], list[str]]:
    """StackFAQ answer paragraphs (documents) and test questions (queries)."""
    folder = (root or shared_dir()) / "eval" / "stackfaq"
    docs, queries = [], []
    for line in (folder / "kb.jsonl").read_text().splitlines():
        for answer in json.loads(line)["answers"]:
            docs += [p.strip() for p in re.split(r"\n\s*\n|(?<=\.)\s{2,}", answer) if len(p.split()) >= 5]
    for line in (folder / "queries_test.jsonl").read_text().splitlines():
        queries.append(json.loads(line)["query"])
    return docs, queries


def bare_onnx_per_s(texts: Sequence[str], batch: int = 32, threads: int | None = None) -> float:
    """Texts per second through onnxruntime with no more than the model needs."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_file()))
    tok.enable_truncation(max_length=256)
    tok.enable_padding()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or max(1, min(4, os.cpu_count() or 1))
    session = ort.InferenceSession(str(model_file()), options, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    ordered = sorted(texts, key=len)  # same length-sorted batches as OnnxMiniLM: a like-for-like baseline
    started = time.perf_counter()
    for start in range(0, len(ordered), batch):
        enc = tok.encode_batch(ordered[start : start + batch])
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        pool(session.run(None, feeds)[0], mask)
    return len(texts) / (time.perf_counter() - started)


def synthetic_vectors(base: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` unit vectors, each a random mix of two real ones plus noise."""
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        rng = np.random.default_rng(seed + start)
        m = min(100_000, n - start)
        a = rng.random((m, 1), dtype=np.float32)
        x = a * base[rng.integers(0, len(base), m)] + (1 - a) * base[rng.integers(0, len(base), m)]
        x += 0.04 * rng.standard_normal(x.shape, dtype=np.float32)
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def synthetic_texts(docs: Sequence[str], n: int, seed: int = 0) -> list[str]:
    counts = Counter(w for d in docs for w in re.findall(r"[A-Za-z][A-Za-z0-9']+", d.lower()))
    words = np.array(list(counts))
    p = np.array([counts[w] for w in words], dtype=np.float64)
    rng = np.random.default_rng(seed)
    sample = words[rng.choice(len(words), size=(n, WORDS_PER_CHUNK), p=p / p.sum())]
    return [" ".join(row) for row in sample]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(
    n: int, *, backend: str = "hnsw", queries: int = QUERIES, sample: int = 256, root: Path | None = None
) -> dict[str, Any]:
    from deskhand.ai.retrieve import Retriever, indexed_text, query_embedder, vector_key
    from deskhand.index import ExactIndex, HnswIndex, VectorIndex

    docs, questions = real_texts(root)
    embedder = OnnxMiniLM(cache_texts=0)  # times the model: every query is embedded, even when repeated
    texts = docs[:sample]
    embedder.embed(texts[:8])
    started = time.perf_counter()
    base = embedder.embed(texts)
    embed_per_s = len(texts) / (time.perf_counter() - started)
    bare_per_s = bare_onnx_per_s(texts)

    vectors = synthetic_vectors(base, n)
    chunks = [Chunk(f"synthetic/{i}", 0, "", (), t, "") for i, t in enumerate(synthetic_texts(docs, n))]
    keys = [vector_key(embedder, indexed_text(c)) for c in chunks]
    started = time.perf_counter()
    index: VectorIndex = (
        HnswIndex(embedder.dim, capacity=n, threads=os.cpu_count() or 1)
        if backend == "hnsw"
        else ExactIndex(embedder.dim)
    )
    index.upsert(keys, vectors)
    vector_build_s = time.perf_counter() - started
    retriever = Retriever(chunks, embedder, index=index)
    build_s = time.perf_counter() - started

    latencies, embedding = [], []
    timed = (questions * (queries // max(1, len(questions)) + 1))[:queries]
    for q in timed:
        t = time.perf_counter()
        retriever.hits(q, k=5)
        latencies.append((time.perf_counter() - t) * 1000)
    for q in timed:  # the query-embedding share of the above, on its own
        t = time.perf_counter()
        query_embedder(embedder).embed([q])
        embedding.append((time.perf_counter() - t) * 1000)
    recall = ann_recall(index, vectors, keys, synthetic_vectors(base, 200, seed=10**9))
    return {
        "chunks": n,
        "backend": backend,
        "build_s": round(build_s, 1),
        "vector_build_s": round(vector_build_s, 1),
        "embed_per_s": round(embed_per_s, 1),
        "bare_onnx_per_s": round(bare_per_s, 1),
        "query_ms_p50": round(float(np.percentile(latencies, 50)), 2),
        "query_ms_p95": round(float(np.percentile(latencies, 95)), 2),
        "query_embed_ms_p50": round(float(np.percentile(embedding, 50)), 2),
        "ann_recall@5": recall,
        "rss_mb": round(rss_mb()),
        "load_avg": round(os.getloadavg()[0], 2),
    }


def ann_recall(index: Any, vectors: np.ndarray, keys: Sequence[int], queries: np.ndarray) -> float:
    """Mean share of exact search's top 5 that the index also returns in its top 5."""
    found = []
    key_array = np.asarray(keys, dtype=np.int64)
    for q in queries:
        scores = vectors @ q
        top = np.argpartition(-scores, 5)[:5]
        exact = {int(key_array[i]) for i in top}
        found.append(len(exact & {k for k, _ in index.search(q, 5)}) / 5)
    return round(float(np.mean(found)), 4)
