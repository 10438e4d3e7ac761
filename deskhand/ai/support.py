"""How well retrieved knowledge supports an automatic answer: a calibrated probability.

The cosine of the best source alone is a weak signal (StackFAQ dev: precision 0.95 at 80 %
coverage); how far the best *document* stands above the runner-up document is a strong one. The
support is a logistic model of P(best document is the right one | cosine, margin), fitted on the
StackFAQ dev split (``deskhand eval answers --dataset …/stackfaq --calibrate``); ``AUTO_AT`` and
``DRAFT_AT`` are the probabilities at which a reply is sent or drafted, chosen on dev (precision
≥ 0.985 on dev for automatic answers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from deskhand.model import Source

# Fitted on StackFAQ dev (625 queries); see the module docstring.
COEF_COSINE = 1.735
COEF_MARGIN = 26.64
INTERCEPT = -1.086
AUTO_AT = 0.9
DRAFT_AT = 0.5


def document_id(source: Source) -> str:
    return source.id.rsplit("#", 1)[0]


def best_documents(sources: Sequence[Source]) -> list[Source]:
    """One source per document (its best-scoring chunk, ``id`` = the document id), best first."""
    best: dict[str, Source] = {}
    for s in sources:
        doc = document_id(s)
        if doc not in best or s.score > best[doc].score:
            best[doc] = replace(s, id=doc)
    return sorted(best.values(), key=lambda s: -s.score)


@dataclass(frozen=True)
class SupportModel:
    coef_cosine: float = COEF_COSINE
    coef_margin: float = COEF_MARGIN
    intercept: float = INTERCEPT

    def probability(self, top: float, margin: float) -> float:
        z = self.coef_cosine * top + self.coef_margin * margin + self.intercept
        return float(1.0 / (1.0 + np.exp(-z)))

    def of_sources(self, sources: Sequence[Source]) -> float:
        docs = best_documents(sources)
        if not docs:
            return 0.0
        second = docs[1].score if len(docs) > 1 else 0.0
        return self.probability(docs[0].score, docs[0].score - second)

    @classmethod
    def fit(cls, features: np.ndarray, correct: np.ndarray) -> SupportModel:
        lr = LogisticRegression(C=100.0).fit(features, correct.astype(int))
        return cls(float(lr.coef_[0][0]), float(lr.coef_[0][1]), float(lr.intercept_[0]))

    def describe(self) -> dict[str, Any]:
        return {"coef_cosine": round(self.coef_cosine, 3), "coef_margin": round(self.coef_margin, 3),
                "intercept": round(self.intercept, 3)}
