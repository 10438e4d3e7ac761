"""The index port: what a vector backend and a lexical backend must do, nothing more.

Keys are int64 (``key_of(text)``: the first 60 bits of the text's sha256), so a chunk whose text did
not change keeps its key and its stored vector: a knowledge change re-embeds only new texts. Scores
are cosine similarities (vectors are unit-norm). A pgvector backend fits the same shape: a table of
(tenant, key, vector) with ``ORDER BY vector <=> :q LIMIT k``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


def key_of(text: str) -> int:
    """Stable int64 key of a text (60 bits of its sha256; collisions are astronomically unlikely)."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:15], 16)


@runtime_checkable
class VectorIndex(Protocol):
    """Unit-norm vectors under int64 keys; nearest neighbours by cosine."""

    dim: int

    def __len__(self) -> int: ...

    def keys(self) -> set[int]: ...

    def upsert(self, keys: Sequence[int], vectors: np.ndarray) -> None: ...

    def delete(self, keys: Iterable[int]) -> None: ...

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Up to ``k`` (key, cosine) pairs, best first."""
        ...

    def vectors(self, keys: Sequence[int]) -> np.ndarray:
        """The stored rows of ``keys`` (KeyError for an unknown key)."""
        ...

    def save(self, path: Path) -> None: ...


@runtime_checkable
class LexicalIndex(Protocol):
    """Documents under int keys (positions), ranked by a term-matching score such as BM25."""

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Up to ``k`` (position, score) pairs with a positive score, best first."""
        ...
