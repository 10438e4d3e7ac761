"""Exact cosine search with numpy: the reference backend, and the right one for small tenants."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np


class ExactIndex:
    """Every query is one matrix-vector product over all rows (exact, O(n·dim))."""

    kind = "exact"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._keys = np.zeros(0, dtype=np.int64)
        self._rows = np.zeros((0, dim), dtype=np.float32)
        self._where: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def keys(self) -> set[int]:
        return set(self._where)

    def __contains__(self, key: object) -> bool:
        return key in self._where

    def upsert(self, keys: Sequence[int], vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(keys), self.dim)
        fresh_keys: list[int] = []
        fresh_rows: list[np.ndarray] = []
        for key, row in zip(keys, vectors, strict=True):
            at = self._where.get(int(key))
            if at is None:
                self._where[int(key)] = len(self._keys) + len(fresh_keys)
                fresh_keys.append(int(key))
                fresh_rows.append(row)
            else:
                self._rows[at] = row
        if fresh_keys:
            self._keys = np.concatenate([self._keys, np.asarray(fresh_keys, dtype=np.int64)])
            self._rows = np.vstack([self._rows, np.asarray(fresh_rows, dtype=np.float32)])

    def delete(self, keys: Iterable[int]) -> None:
        gone = {int(k) for k in keys} & self._where.keys()
        if not gone:
            return
        keep = np.array([int(k) not in gone for k in self._keys], dtype=bool)
        self._keys, self._rows = self._keys[keep], self._rows[keep]
        self._where = {int(k): i for i, k in enumerate(self._keys)}

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        n = len(self._keys)
        if n == 0 or k <= 0:
            return []
        scores = self._rows @ np.asarray(vector, dtype=np.float32)
        k = min(k, n)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self._keys[i]), float(scores[i])) for i in top]

    def vectors(self, keys: Sequence[int]) -> np.ndarray:
        return self._rows[[self._where[int(k)] for k in keys]] if keys else np.zeros((0, self.dim), np.float32)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, keys=self._keys, rows=self._rows)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, dim: int) -> ExactIndex:
        index = cls(dim)
        with np.load(path) as data:
            if data["rows"].shape[1:] == (dim,):
                index.upsert(list(data["keys"]), data["rows"])
        return index
