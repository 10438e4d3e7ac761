"""The lexical side: BM25 (the scores bm25s computes, kept incrementally) over analysed terms (lowercase
words, stopwords out, Snowball stems)."""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
K1, B = 1.5, 0.75  # bm25s's defaults (method "lucene")
_STOPWORDS = frozenset(STOPWORDS_EN) | {"i", "my", "me", "we", "our", "you", "your", "can", "do", "how"}


class Analyzer:
    """Text → terms: lowercase, words, stopwords out, Snowball English stems."""

    def __init__(self) -> None:
        self._stemmer = Stemmer.Stemmer("english")

    def terms(self, text: str) -> list[str]:
        words = [w.replace("’", "'").split("'")[0] for w in _WORD.findall(text.lower())]
        return list(self._stemmer.stemWords([w for w in words if w and w not in _STOPWORDS]))


class Bm25Index:
    """BM25 (the Lucene variant bm25s computes by default: k1 1.5, b 0.75) over documents in slots, kept
    as postings (term -> slots, term frequencies), so adding or removing a document touches its own
    terms only: a new article or solved ticket never rebuilds a tenant's lexical index. bm25s has no
    incremental update; its scores are the reference this class is tested against. A removed
    document's slot is reused by the next one added; every other slot keeps its number."""

    kind = "bm25"

    def __init__(self, documents: Sequence[str] = (), analyzer: Analyzer | None = None) -> None:
        self.analyzer = analyzer or Analyzer()
        self.term_sets: list[frozenset[str]] = []  # per slot (empty for a free slot)
        self.df: dict[str, int] = {}
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # term -> (slots, tf)
        self._length = np.zeros(0, dtype=np.float64)  # analysed terms per slot (at least 1; 0 when free)
        self._free: list[int] = []  # a heap: the lowest free slot is reused first
        self._total = 0.0
        self.size = 0
        self.add(documents)

    def __len__(self) -> int:
        return self.size

    @property
    def slots(self) -> int:
        """Slots in use or free: the length of ``scores``'s array."""
        return len(self._length)

    def add(self, documents: Sequence[str]) -> list[int]:
        """Index ``documents``; returns the slot of each."""
        counted = [Counter(self.analyzer.terms(d)) for d in documents]
        slots = [heapq.heappop(self._free) for _ in range(min(len(self._free), len(counted)))]
        grow = len(counted) - len(slots)
        if grow:
            slots += range(len(self._length), len(self._length) + grow)
            self._length = np.concatenate([self._length, np.zeros(grow)])
            self.term_sets.extend(frozenset() for _ in range(grow))
        fresh: dict[str, tuple[list[int], list[int]]] = {}
        for slot, counts in zip(slots, counted, strict=True):
            length = max(1, sum(counts.values()))  # bm25s indexes an empty document as one placeholder term
            self._length[slot] = length
            self._total += length
            self.term_sets[slot] = frozenset(counts)
            for term, tf in counts.items():
                at, tfs = fresh.setdefault(term, ([], []))
                at.append(slot)
                tfs.append(tf)
        for term, (at, tfs) in fresh.items():
            old = self._postings.get(term)
            new_at, new_tf = np.asarray(at, dtype=np.int64), np.asarray(tfs, dtype=np.float64)
            self._postings[term] = (new_at, new_tf) if old is None else (
                np.concatenate([old[0], new_at]), np.concatenate([old[1], new_tf]))
            self.df[term] = self.df.get(term, 0) + len(at)
        self.size += len(counted)
        return slots

    def remove(self, slots: Iterable[int]) -> None:
        """Drop the documents in ``slots`` (a free slot is ignored)."""
        gone = sorted({int(s) for s in slots if 0 <= int(s) < len(self._length) and self._length[int(s)] > 0})
        if not gone:
            return
        terms: set[str] = set()
        for slot in gone:
            terms |= self.term_sets[slot]
            self._total -= float(self._length[slot])
            self._length[slot] = 0.0
            self.term_sets[slot] = frozenset()
            heapq.heappush(self._free, slot)
        dropped = np.asarray(gone, dtype=np.int64)
        for term in terms:
            at, tf = self._postings[term]
            keep = ~np.isin(at, dropped)
            if keep.any():
                self._postings[term] = (at[keep], tf[keep])
                self.df[term] = int(keep.sum())
            else:
                del self._postings[term], self.df[term]
        self.size -= len(gone)

    def scores(self, query: str) -> tuple[list[str], np.ndarray | None]:
        """The query's terms, and BM25 of every slot (None when no term is indexed). A term the query
        repeats counts again, as in bm25s."""
        terms = self.analyzer.terms(query)
        counts = Counter(t for t in terms if t in self.df)
        if not counts or not self.size:
            return terms, None
        n, avgdl = self.size, self._total / self.size
        slots, parts = [], []
        for term in sorted(counts):  # one order: the same sums however the postings were assembled
            at, tf = self._postings[term]
            df = len(at)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            slots.append(at)
            parts.append(counts[term] * idf * tf / (tf + K1 * (1 - B + B * self._length[at] / avgdl)))
        return terms, np.bincount(np.concatenate(slots), np.concatenate(parts), minlength=len(self._length))

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        _, scores = self.scores(query)
        return top_positive(scores, k)


def top_positive(
    scores: np.ndarray | None, k: int, order: Callable[[int], Any] | None = None
) -> list[tuple[int, float]]:
    """The ``k`` best positions with a positive score, best first; ties go to the lower ``order(position)``
    (default: the lower position), also at the cut."""
    if scores is None or k <= 0 or not len(scores):
        return []
    k = min(k, len(scores))
    kth = np.partition(scores, len(scores) - k)[len(scores) - k]  # the k-th best score
    tied = np.flatnonzero(scores >= max(kth, np.nextafter(0, 1)))
    rank = order or int
    best = sorted(tied.tolist(), key=lambda i: (-scores[i], rank(i)))[:k]
    return [(i, float(scores[i])) for i in best]
