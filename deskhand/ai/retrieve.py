"""Knowledge retrieval over chunks: BM25 (bm25s), optionally fused with dense MiniLM cosine.

Lexical: lowercased word tokens, English stopwords (bm25s' list), Snowball stemming (PyStemmer),
ranked by BM25 (bm25s: maintained, sparse-matrix scoring, no torch). Dense: cosine between the
query's and the chunk's MiniLM embeddings. Hybrid ranking is reciprocal rank fusion (k=60) of the
two rankings.

``Source.score`` is what to threshold, and it is never a rank-fusion number:
- hybrid (an embedder was given): the dense cosine of query and chunk, clipped to [0, 1]
  (all-MiniLM-L6-v2: ≳0.5 on topic, ≲0.2 unrelated);
- lexical only: the IDF-weighted share of the query's distinct terms that the chunk contains,
  in [0, 1] (1.0: every query term occurs; a match on rare terms weighs more than on common ones).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

from deskhand.ai.chunk import Chunk
from deskhand.ai.embed import Embedder
from deskhand.model import Source

RRF_K = 60
CANDIDATES = 50  # per ranking, before fusion
_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_STOPWORDS = frozenset(STOPWORDS_EN) | {"i", "my", "me", "we", "our", "you", "your", "can", "do", "how"}


@dataclass(frozen=True, slots=True)
class Hit:
    """One ranked chunk with every score that went into its rank."""

    chunk: Chunk
    score: float  # as documented above: dense cosine (hybrid) or IDF-weighted coverage (lexical)
    bm25: float
    cosine: float | None
    coverage: float


class Analyzer:
    """Text → terms: lowercase, words, stopwords out, Snowball English stems."""

    def __init__(self) -> None:
        self._stemmer = Stemmer.Stemmer("english")

    def terms(self, text: str) -> list[str]:
        words = [w.replace("’", "'").split("'")[0] for w in _WORD.findall(text.lower())]
        return list(self._stemmer.stemWords([w for w in words if w and w not in _STOPWORDS]))


class Retriever:
    """Search over a fixed set of chunks. Build a new one when the knowledge changes."""

    def __init__(self, chunks: Sequence[Chunk], embedder: Embedder | None = None) -> None:
        self.chunks = list(chunks)
        self.embedder = embedder
        self._analyzer = Analyzer()
        documents = [self._analyzer.terms(_indexed_text(c)) for c in self.chunks]
        self._term_sets = [set(d) for d in documents]
        self._df: dict[str, int] = {}
        for terms in self._term_sets:
            for term in terms:
                self._df[term] = self._df.get(term, 0) + 1
        self._bm25 = bm25s.BM25()
        if self.chunks:
            self._bm25.index([d or ["\x00"] for d in documents], show_progress=False)
        self._vectors = (
            embedder.embed([_indexed_text(c) for c in self.chunks])
            if embedder is not None and self.chunks
            else None
        )

    @property
    def hybrid(self) -> bool:
        return self._vectors is not None

    def search(self, query: str, k: int = 5) -> list[Source]:
        """The ``k`` best chunks as sources (``id`` = chunk id, ``url`` = None)."""
        return [
            Source(id=h.chunk.id, title=_source_title(h.chunk), text=h.chunk.text, score=round(h.score, 4))
            for h in self.hits(query, k)
        ]

    def hits(self, query: str, k: int = 5) -> list[Hit]:
        """Like ``search`` but with the BM25, cosine and coverage behind each result."""
        if not self.chunks or k <= 0:
            return []
        terms = self._analyzer.terms(query)
        bm25 = self._bm25_scores(terms)
        cosine = self._cosines(query)
        lexical = [i for i in np.argsort(-bm25, kind="stable")[:CANDIDATES] if bm25[i] > 0]
        if cosine is None:
            ranked = lexical
        else:
            dense = list(np.argsort(-cosine, kind="stable")[:CANDIDATES])
            ranked = _fuse([lexical, dense])
        hits = []
        for i in ranked[:k]:
            coverage = self._coverage(terms, i)
            cos = None if cosine is None else float(cosine[i])
            score = coverage if cos is None else min(1.0, max(0.0, cos))
            hits.append(Hit(self.chunks[i], score, float(bm25[i]), cos, coverage))
        return hits

    def _bm25_scores(self, terms: list[str]) -> np.ndarray:
        known = [t for t in terms if t in self._df]
        if not known:
            return np.zeros(len(self.chunks), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def _cosines(self, query: str) -> np.ndarray | None:
        if self._vectors is None or self.embedder is None:
            return None
        return self._vectors @ self.embedder.embed([query])[0]

    def _coverage(self, terms: list[str], index: int) -> float:
        distinct = set(terms)
        if not distinct:
            return 0.0
        n = len(self.chunks)
        weight = {t: math.log(1 + (n + 1) / (self._df.get(t, 0) + 0.5)) for t in distinct}
        found = sum(w for t, w in weight.items() if t in self._term_sets[index])
        return found / sum(weight.values())


def _fuse(rankings: list[list[int]]) -> list[int]:
    """Reciprocal rank fusion: sum of 1 / (RRF_K + rank) over the rankings a chunk appears in."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, index in enumerate(ranking):
            fused[int(index)] = fused.get(int(index), 0.0) + 1.0 / (RRF_K + rank + 1)
    return sorted(fused, key=lambda i: (-fused[i], i))


def _indexed_text(chunk: Chunk) -> str:
    path = " › ".join(p for p in chunk.heading_path if p != chunk.title)
    return "\n".join(part for part in (chunk.title, path, chunk.text) if part)


def _source_title(chunk: Chunk) -> str:
    tail = [p for p in chunk.heading_path if p != chunk.title]
    return " › ".join([chunk.title, *tail[-1:]])
