"""Embeddings cached on disk, so re-running an evaluation does not re-embed 10k texts.

The key is the embedder's name and a hash of the texts in order; the file is a ``.npy`` under
``$DESKHAND_CACHE_DIR`` (default ``~/.cache/deskhand``)/embeddings. A stale or corrupt file is
simply recomputed.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from deskhand.ai.embed import Embedder, default_embedder

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    root = os.environ.get("DESKHAND_CACHE_DIR") or Path.home() / ".cache" / "deskhand"
    return Path(root) / "embeddings"


def texts_key(name: str, texts: Sequence[str]) -> str:
    digest = hashlib.sha256(name.encode())
    for text in texts:
        digest.update(b"\x00" + text.encode("utf-8", "replace"))
    return digest.hexdigest()[:32]


def cached_embed(texts: Sequence[str], embedder: Embedder | None = None, *, use_cache: bool = True) -> np.ndarray:
    """``embedder.embed(texts)``, read from / written to the on-disk cache."""
    model = embedder or default_embedder()
    if not use_cache:
        return model.embed(list(texts))
    path = cache_dir() / f"{texts_key(model.name, texts)}.npy"
    if path.is_file():
        try:
            vectors = np.load(path)
            if vectors.shape == (len(texts), model.dim):
                return vectors
        except (OSError, ValueError):
            pass
    vectors = model.embed(list(texts))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(path)
    log.info("embeddings cached", extra={"texts": len(texts), "path": str(path)})
    return vectors


class CachedEmbedder:
    """An ``Embedder`` that goes through the disk cache (for evaluation runs)."""

    def __init__(self, inner: Embedder | None = None) -> None:
        self.inner = inner or default_embedder()
        self.name = self.inner.name
        self.dim = self.inner.dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) < 64:  # small batches: the hash and file cost more than they save
            return self.inner.embed(list(texts))
        return cached_embed(texts, self.inner)
