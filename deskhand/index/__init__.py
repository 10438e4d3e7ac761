"""deskhand.index: vector and lexical index backends behind one small port.

``VectorIndex`` (upsert/delete/search/vectors/save) has two embedded backends: ``ExactIndex``
(numpy) and ``HnswIndex`` (hnswlib, the default: ``open_vector_index``). ``Bm25Index`` is the lexical
side. ``deskhand.index.tenants`` keeps one persisted vector index per tenant beside the SQLite store.
"""

from deskhand.index.exact import ExactIndex
from deskhand.index.hnsw import HnswIndex
from deskhand.index.lexical import Analyzer, Bm25Index
from deskhand.index.port import LexicalIndex, VectorIndex, key_of

__all__ = ["Analyzer", "Bm25Index", "ExactIndex", "HnswIndex", "LexicalIndex", "VectorIndex", "key_of"]
