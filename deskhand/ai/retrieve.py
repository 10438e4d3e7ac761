"""Knowledge retrieval over chunks: dense MiniLM max-sim fused with BM25, per tenant.

Why not plain reciprocal rank fusion: on StackFAQ dev, BM25 alone finds the right thread first for
only ~70 % of paraphrased questions, dense cosine for ~95 %; RRF gives both rankings equal votes, so
the weak ranker pulls right answers off the top (R@1 0.85). Measured alternatives on dev, the best
was a weighted *score* fusion: ``fused = dense + LEXICAL_WEIGHT × bm25 / max bm25`` (lexical matches
still break near-ties and rescue exact terms such as error codes and product names).

Dense is multi-vector: every chunk has a vector of its own text (title, heading path, body) and
shares its article title's vector; a chunk's dense score is the max of the two (max-sim). A short
title often states the question better than a long body whose vector drifts towards the answer.

``Source.score`` is what to threshold and is never a fusion number: with an embedder, the dense
cosine clipped to [0, 1]; lexical only, the IDF-weighted share of the query's distinct terms the
chunk contains. Chunks whose dense cosine is below ``min_similarity`` are dropped.

``context``: earlier turns of the thread. An article title named there (a product, plan, hotel…)
resolves what "it" refers to: that article's chunks join the candidates with a bonus.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from deskhand.ai.chunk import Chunk
from deskhand.ai.embed import Embedder, OnnxMiniLM
from deskhand.index import Analyzer, Bm25Index, ExactIndex, VectorIndex, key_of
from deskhand.index.lexical import top_positive
from deskhand.model import Source

LEXICAL_WEIGHT = 0.1  # tuned on StackFAQ dev (0.0–0.3 tried; see module docstring)
ENTITY_BONUS = 0.5  # to chunks of an article the thread names (DSTC11 dev: 0 → R@5 0.15, 0.15 → 0.55, 0.5 → 0.80)
MIN_SIMILARITY = 0.40  # StackFAQ dev (+distractors): keeps 99.7 % of gold hits, drops 87 % of CLINC oos_val top hits
CANDIDATES = 50  # per side, before fusion
SHORT_TICKET_WORDS = 200  # above this, a ticket's description is cut before it joins the subject
RRF_K = 60
_NAME = re.compile(r"[a-z0-9]+")

__all__ = ["Analyzer", "Hit", "Retriever", "ticket_query"]


@dataclass(frozen=True, slots=True)
class Hit:
    """One ranked chunk with every score that went into its rank."""

    chunk: Chunk
    score: float  # dense cosine (hybrid) or IDF-weighted coverage (lexical), in [0, 1]
    bm25: float
    cosine: float | None
    coverage: float
    fused: float = 0.0


_single: OnnxMiniLM | None = None
_single_lock = threading.Lock()


def query_embedder(embedder: Embedder) -> Embedder:
    """The embedder for one query at a time: the same MiniLM in a one-thread session. Measured on this
    2-core machine, a short query takes 3.6 ms p50 / 4.1 ms p95 with one intra-op thread and 7.8 / 13.7 ms
    with two (the threads contend; batches of documents keep the multi-thread session)."""
    global _single
    if not isinstance(embedder, OnnxMiniLM) or embedder._session.get_session_options().intra_op_num_threads == 1:
        return embedder
    with _single_lock:
        if _single is None:
            # the same rows as `embedder`'s (one cache: a query is often the text triage just embedded)
            _single = OnnxMiniLM(threads=1, max_tokens=embedder.max_tokens, cache_texts=embedder.cache_texts)
    return _single


def ticket_query(subject: str, description: str, *, short_words: int = SHORT_TICKET_WORDS) -> str:
    """What to search for a ticket: subject and description together, the description cut when long."""
    words = description.split()
    body = description if len(words) <= short_words else " ".join(words[:short_words])
    return "\n".join(p for p in (subject.strip(), body.strip()) if p)


class Retriever:
    """Search over a set of chunks. ``add`` and ``remove`` change it in place, touching the changed
    chunks only (their BM25 postings, names and vectors): an incremental retriever answers as one built
    afresh over the same chunks, ties broken by chunk order (source, ordinal) either way. Pass a
    persisted ``index`` to reuse stored vectors (only texts it lacks are embedded)."""

    def __init__(
        self,
        chunks: Sequence[Chunk],
        embedder: Embedder | None = None,
        *,
        index: VectorIndex | None = None,
        lexical_weight: float = LEXICAL_WEIGHT,
        min_similarity: float = 0.0,
        entity_bonus: float = ENTITY_BONUS,
    ) -> None:
        self.embedder = embedder
        self.lexical_weight = lexical_weight
        self.min_similarity = min_similarity
        self.entity_bonus = entity_bonus
        self.lexical = Bm25Index()
        self.chunks: list[Chunk | None] = []  # by slot (the lexical index's); None: a free slot
        self.index: VectorIndex | None = None
        self._body: list[int] = []  # by slot: the key of the chunk's own vector
        self._title: list[int | None] = []  # by slot: the key of its title's vector
        self._owners: dict[int, list[int]] = {}  # vector key -> slots whose chunk uses it
        self._names: dict[str, list[int]] = {}  # normalised article title -> slots
        self._sources: dict[str, list[int]] = {}  # source id -> slots
        self._name_sizes: Counter[int] = Counter()  # words in a name -> names that long
        self._longest_name = 0
        if embedder is not None:
            self.index = index if index is not None else ExactIndex(embedder.dim)
        self.add(chunks)

    def __len__(self) -> int:
        return len(self.lexical)

    def vector_keys(self) -> set[int]:
        """Keys of every vector these chunks use (their own and their titles')."""
        return set(self._owners)

    @property
    def hybrid(self) -> bool:
        return self.index is not None

    def add(self, chunks: Sequence[Chunk]) -> list[int]:
        """Add ``chunks`` (embedding the texts the vector index lacks); returns their slots."""
        chunks = list(chunks)
        slots = self.lexical.add([indexed_text(c) for c in chunks])
        grow = self.lexical.slots - len(self.chunks)
        self.chunks += [None] * grow
        self._body += [0] * grow
        self._title += [None] * grow
        texts: dict[int, str] = {}
        for slot, c in zip(slots, chunks, strict=True):
            self.chunks[slot] = c
            name = normal_name(c.title)
            if name not in self._names:
                self._name_sizes[len(name.split())] += 1
            self._names.setdefault(name, []).append(slot)
            self._sources.setdefault(c.source_id, []).append(slot)
            if self.embedder is None:
                continue
            body = indexed_text(c)
            self._body[slot] = vector_key(self.embedder, body)
            texts[self._body[slot]] = body
            title = c.title.strip() if c.title.strip() and c.title.strip() != body.strip() else None
            self._title[slot] = vector_key(self.embedder, title) if title else None
            if title:
                texts[vector_key(self.embedder, title)] = title
            for key in self._keys(slot):
                self._owners.setdefault(key, []).append(slot)
        self._longest_name = max((n for n, count in self._name_sizes.items() if count), default=0)
        if self.index is not None and self.embedder is not None:
            embed_missing(self.index, self.embedder, texts)
        return slots

    def remove(self, source_ids: Iterable[str]) -> int:
        """Remove every chunk of the given sources; vectors no chunk uses any more leave the vector
        index. Returns how many chunks were removed."""
        return self.replace(source_ids, [])

    def replace(self, source_ids: Iterable[str], chunks: Sequence[Chunk]) -> int:
        """Remove every chunk of ``source_ids``, then add ``chunks`` (their articles' current chunks):
        a vector the removed chunks used is kept when an added chunk uses it (an unchanged title), and
        dropped from the vector index when none does. Returns how many chunks were removed."""
        slots = [s for source in set(source_ids) for s in self._sources.pop(source, [])]
        unowned: list[int] = []
        for slot in slots:
            c = self.chunks[slot]
            assert c is not None
            name = normal_name(c.title)
            self._names[name].remove(slot)
            if not self._names[name]:
                del self._names[name]
                self._name_sizes[len(name.split())] -= 1
            for key in self._keys(slot) if self.embedder is not None else []:
                owners = self._owners[key]
                owners.remove(slot)
                if not owners:
                    del self._owners[key]
                    unowned.append(key)
            self.chunks[slot] = None
            self._body[slot], self._title[slot] = 0, None
        self.lexical.remove(slots)
        self.add(chunks)
        stale = [key for key in unowned if key not in self._owners]
        if self.index is not None and stale:
            self.index.delete(stale)
        self._longest_name = max((n for n, count in self._name_sizes.items() if count), default=0)
        return len(slots)

    def _keys(self, slot: int) -> list[int]:
        title = self._title[slot]
        return [self._body[slot]] if title is None else [self._body[slot], title]

    def _order(self, slot: int) -> tuple[str, int, int]:
        c = self.chunks[slot]
        assert c is not None
        return c.source_id, c.index, slot

    def search(self, query: str, k: int = 5, *, context: str | None = None) -> list[Source]:
        """The ``k`` best chunks as sources (``id`` = chunk id)."""
        return [
            Source(
                id=h.chunk.id, title=source_title(h.chunk), text=h.chunk.text, score=round(h.score, 4),
                kind=h.chunk.kind, url=h.chunk.url,
            )
            for h in self.hits(query, k, context=context)
        ]

    def hits(self, query: str, k: int = 5, *, context: str | None = None) -> list[Hit]:
        """Like ``search`` but with the BM25, cosine and coverage behind each result."""
        if not len(self.lexical) or k <= 0:
            return []
        terms, bm25 = self.lexical.scores(query)
        lexical = top_positive(bm25, CANDIDATES, self._order)
        top_bm25 = lexical[0][1] if lexical else 1.0
        named = self.named(f"{context or ''}\n{query}") if context is not None else []
        ranked: list[tuple[int, float, float | None]]
        if self.index is None or self.embedder is None:
            ranked = [(i, s / top_bm25, None) for i, s in lexical]
        else:
            ranked = list(self._fuse(query, lexical, top_bm25, named))
        hits = []
        for i, fused, cos in ranked:
            chunk = self.chunks[i]
            assert chunk is not None
            coverage = self.coverage(terms, i)
            score = coverage if cos is None else min(1.0, max(0.0, cos))
            if cos is not None and cos < self.min_similarity:
                continue
            b = float(bm25[i]) if bm25 is not None else 0.0
            hits.append(Hit(chunk, score, b, cos, coverage, fused))
            if len(hits) == k:
                break
        return hits

    def _fuse(
        self, query: str, lexical: list[tuple[int, float]], top_bm25: float, named: list[int]
    ) -> list[tuple[int, float, float]]:
        assert self.index is not None and self.embedder is not None
        q = query_embedder(self.embedder).embed([query])[0]
        candidates = {i for i, _ in lexical} | set(named)
        known = dict(self.index.search(q, 2 * CANDIDATES))
        for key in known:
            candidates.update(self._owners.get(key, ()))
        order = sorted(candidates, key=self._order)
        dense = self._dense(q, order, known)
        bonus = set(named)
        lexical_part = {i: self.lexical_weight * s / top_bm25 for i, s in lexical}
        fused = [
            (i, float(d) + lexical_part.get(i, 0.0) + (self.entity_bonus if i in bonus else 0.0), float(d))
            for i, d in zip(order, dense, strict=True)
        ]
        return sorted(fused, key=lambda t: -t[1])  # stable: ties stay in chunk order

    def _dense(self, q: np.ndarray, positions: list[int], known: dict[int, float]) -> np.ndarray:
        """Max-sim of each chunk: cosines the index search returned, the rest from stored vectors."""
        assert self.index is not None
        if not positions:
            return np.zeros(0, dtype=np.float32)
        keys = {self._body[i] for i in positions} | {t for i in positions if (t := self._title[i])}
        fetch = sorted(keys - known.keys())
        cos = dict(known)
        if fetch:
            cos.update(zip(fetch, (self.index.vectors(fetch) @ q).tolist(), strict=True))
        return np.array(
            [max(cos[self._body[i]], cos[t] if (t := self._title[i]) else -1.0) for i in positions], dtype=np.float32
        )

    def named(self, text: str) -> list[int]:
        """Chunks of the article whose title ``text`` names last (word n-grams against titles)."""
        words = _NAME.findall(text.lower())
        for end in range(len(words), 0, -1):
            for size in range(min(self._longest_name, end), 0, -1):
                found = self._names.get(" ".join(words[end - size : end]))
                if found and (size > 1 or len(words[end - 1]) > 3):
                    return found
        return []

    def coverage(self, terms: list[str], index: int) -> float:
        distinct = set(terms)
        if not distinct:
            return 0.0
        n, df = len(self.lexical), self.lexical.df
        weight = {t: math.log(1 + (n + 1) / (df.get(t, 0) + 0.5)) for t in distinct}
        found = sum(w for t, w in weight.items() if t in self.lexical.term_sets[index])
        return found / sum(weight.values())


def rrf(rankings: list[list[int]], k: int = RRF_K) -> list[int]:
    """Reciprocal rank fusion (kept for comparison in the evaluation; not the default)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, index in enumerate(ranking):
            fused[int(index)] = fused.get(int(index), 0.0) + 1.0 / (k + rank + 1)
    return sorted(fused, key=lambda i: (-fused[i], i))


EMBED_BATCH = 64  # texts per embedding call when progress is reported


def vector_texts(chunks: Sequence[Chunk], embedder: Embedder) -> dict[int, str]:
    """Every text a ``Retriever`` over ``chunks`` embeds (each chunk's indexed text and its title), by key."""
    texts: dict[int, str] = {}
    for c in chunks:
        body = indexed_text(c)
        texts[vector_key(embedder, body)] = body
        title = c.title.strip()
        if title and title != body.strip():
            texts[vector_key(embedder, title)] = title
    return texts


def embed_missing(
    index: VectorIndex, embedder: Embedder, texts: dict[int, str], *,
    progress: Callable[[int, int], None] | None = None, batch: int = EMBED_BATCH,
) -> int:
    """Embed the texts whose key ``index`` lacks and add them; returns how many were embedded.
    ``progress(done, total)`` is called after each batch (one call for everything without it)."""
    missing = lacking(index, texts)
    step = batch if progress is not None else max(len(missing), 1)
    for start in range(0, len(missing), step):
        keys = missing[start : start + step]
        index.upsert(keys, embedder.embed([texts[k] for k in keys]))
        if progress is not None:
            progress(start + len(keys), len(missing))
    return len(missing)


def lacking(index: VectorIndex, keys: Iterable[int]) -> list[int]:
    """Those of ``keys`` the index has no vector for (one membership test each where the index has
    them in memory, not a copy of every key: a knowledge change costs its own texts only)."""
    if hasattr(index, "__contains__"):
        return [k for k in keys if k not in index]
    known = index.keys()
    return [k for k in keys if k not in known]


def vector_key(embedder: Embedder, text: str) -> int:
    return key_of(f"{embedder.name}\n{text}")


def normal_name(title: str) -> str:
    return " ".join(_NAME.findall(title.lower()))


def indexed_text(chunk: Chunk) -> str:
    path = " › ".join(p for p in chunk.heading_path if p != chunk.title)
    return "\n".join(part for part in (chunk.title, path, chunk.text) if part)


def source_title(chunk: Chunk) -> str:
    tail = [p for p in chunk.heading_path if p != chunk.title]
    return " › ".join([chunk.title, *tail[-1:]])
