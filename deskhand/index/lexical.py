"""The lexical side: BM25 (bm25s) over analysed terms (lowercase words, stopwords out, Snowball stems)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_STOPWORDS = frozenset(STOPWORDS_EN) | {"i", "my", "me", "we", "our", "you", "your", "can", "do", "how"}


class Analyzer:
    """Text → terms: lowercase, words, stopwords out, Snowball English stems."""

    def __init__(self) -> None:
        self._stemmer = Stemmer.Stemmer("english")

    def terms(self, text: str) -> list[str]:
        words = [w.replace("’", "'").split("'")[0] for w in _WORD.findall(text.lower())]
        return list(self._stemmer.stemWords([w for w in words if w and w not in _STOPWORDS]))


class Bm25Index:
    """BM25 over a fixed list of documents (positions are the keys); rebuilt when documents change."""

    kind = "bm25"

    def __init__(self, documents: Sequence[str], analyzer: Analyzer | None = None) -> None:
        self.analyzer = analyzer or Analyzer()
        terms = [self.analyzer.terms(d) for d in documents]
        self.term_sets = [set(t) for t in terms]
        self.df: dict[str, int] = {}
        for found in self.term_sets:
            for term in found:
                self.df[term] = self.df.get(term, 0) + 1
        self.size = len(documents)
        self._bm25 = bm25s.BM25()
        if documents:
            self._bm25.index([t or ["\x00"] for t in terms], show_progress=False)

    def __len__(self) -> int:
        return self.size

    def scores(self, query: str) -> tuple[list[str], np.ndarray | None]:
        """The query's terms, and BM25 of every document (None when no term is indexed)."""
        terms = self.analyzer.terms(query)
        known = [t for t in terms if t in self.df]
        if not known or not self.size:
            return terms, None
        return terms, np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        _, scores = self.scores(query)
        return top_positive(scores, k)


def top_positive(scores: np.ndarray | None, k: int) -> list[tuple[int, float]]:
    """The ``k`` best positions with a positive score, best first (ties: lower position first)."""
    if scores is None or k <= 0 or not len(scores):
        return []
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.lexsort((top, -scores[top]))]
    return [(int(i), float(scores[i])) for i in top if scores[i] > 0]
