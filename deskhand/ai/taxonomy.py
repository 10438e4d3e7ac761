"""An account's own taxonomy, learned offline from its labelled history, with abstention.

``TaxonomyModel`` is a multinomial logistic regression on MiniLM embeddings blended with a
cosine k-nearest-neighbour vote over the training tickets (``KNN_WEIGHT``; measured on a held-out
15 % of BANKING77 train: LR 0.920, LR+kNN 0.927). The blended probability of the chosen category is
the model's confidence; it is multiplied by a *familiarity* factor (cosine to the nearest training
ticket, mapped between ``foreign`` and ``familiar``) so that text unlike anything in the history
gets a low confidence instead of a confident wrong label.

Out-of-scope abstention: when the confidence is below ``abstain_below`` the prediction is marked
``abstain`` and the responder routes the ticket to a human. ``fit`` sets ``abstain_below`` from the
history alone (the confidence that keeps ``KEEP_IN_SCOPE`` of held-out in-scope tickets);
``calibrate_abstention`` resets it from labelled examples that include out-of-scope ones.

The fitted model is plain arrays (``to_bytes``/``from_bytes``: an ``.npz``, no pickle), so it can
be stored in the database (see ``deskhand.ai.taxonomy_store``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from deskhand.ai.embed import Embedder, default_embedder

C = 10.0  # LR regularisation (BANKING77 train hold-out: 10 ≥ 30 ≥ 100)
KNN_K = 10
KNN_TEMPERATURE = 0.05
KNN_WEIGHT = 0.3
FAMILIAR_QUANTILE = 0.05
FOREIGN_GAP = 0.25
OUT_OF_SCOPE = "out_of_scope"  # a history label meaning "not ours": predicting it always abstains
KEEP_IN_SCOPE = 0.97  # default abstention: keep this share of held-out in-scope tickets


@dataclass(frozen=True, slots=True)
class Prediction:
    label: str
    confidence: float  # blended probability of ``label`` × familiarity, in [0, 1]
    probability: float  # blended probability of ``label``
    familiarity: float
    abstain: bool
    scores: dict[str, float] = field(default_factory=dict)  # top categories → probability


class TaxonomyModel:
    def __init__(self, embedder: Embedder | None = None) -> None:
        self._embedder = embedder
        self.classes: list[str] = []
        self.coef = np.zeros((0, 0), dtype=np.float32)
        self.intercept = np.zeros(0, dtype=np.float32)
        self.train = np.zeros((0, 0), dtype=np.float32)
        self.train_labels = np.zeros(0, dtype=np.int32)
        self.familiar = 1.0
        self.foreign = 0.0
        self.abstain_below = 0.0

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = default_embedder()
        return self._embedder

    @property
    def fitted(self) -> bool:
        return bool(self.classes)

    # -- learning ------------------------------------------------------------------------
    def fit(
        self, texts: Sequence[str], labels: Sequence[str], *, vectors: np.ndarray | None = None, holdout: bool = True
    ) -> TaxonomyModel:
        """Learn from labelled tickets; ``vectors`` may be given (already embedded ``texts``).

        ``holdout``: first fit on 85 % to set the default abstention threshold (twice the time)."""
        if len(texts) != len(labels):
            raise ValueError("texts and labels must have the same length")
        if len(set(labels)) < 2:
            raise ValueError("a taxonomy needs at least two categories in the labelled history")
        x = self.embedder.embed(list(texts)) if vectors is None else vectors
        y = np.asarray(labels)
        if holdout:
            self.abstain_below = self._default_threshold(x, y)
        self._fit_arrays(x, y)  # the final model sees the whole history
        return self

    def _fit_arrays(self, x: np.ndarray, y: np.ndarray) -> None:
        lr = LogisticRegression(C=C, max_iter=3000).fit(x, y)
        self.classes = [str(c) for c in lr.classes_]
        index = {c: i for i, c in enumerate(self.classes)}
        coef, intercept = lr.coef_, lr.intercept_
        if len(self.classes) == 2:  # sklearn's binary form: one row for the positive class
            coef, intercept = np.vstack([-coef[0], coef[0]]) / 2, np.array([-intercept[0], intercept[0]]) / 2
        self.coef, self.intercept = coef.astype(np.float32), intercept.astype(np.float32)
        self.train = x.astype(np.float32)
        self.train_labels = np.array([index[str(v)] for v in y], dtype=np.int32)
        nearest = _nearest_other(self.train)
        self.familiar = float(np.quantile(nearest, FAMILIAR_QUANTILE))
        self.foreign = self.familiar - FOREIGN_GAP

    def _default_threshold(self, x: np.ndarray, y: np.ndarray) -> float:
        """The confidence that keeps KEEP_IN_SCOPE of a held-out 15 % of the history."""
        counts = np.unique(y, return_counts=True)[1]
        if len(y) < 40 or counts.min() < 2:
            return 0.0
        xa, xb, ya, _ = train_test_split(x, y, test_size=0.15, random_state=0, stratify=y)
        self._fit_arrays(xa, ya)
        confidence = self._confidence(xb)[1]
        return float(np.quantile(confidence, 1 - KEEP_IN_SCOPE))

    def calibrate_abstention(self, vectors: np.ndarray, in_scope: np.ndarray, *, min_oos_recall: float) -> float:
        """Set ``abstain_below`` to the lowest threshold that sends ``min_oos_recall`` of the
        out-of-scope rows (``in_scope`` False) to a human. Returns the threshold."""
        confidence = self._confidence(vectors)[1]
        oos = np.sort(confidence[~in_scope])
        if len(oos) == 0:
            return self.abstain_below
        index = min(len(oos) - 1, int(np.ceil(min_oos_recall * len(oos))) - 1)
        self.abstain_below = float(np.nextafter(oos[max(index, 0)], np.inf))
        return self.abstain_below

    # -- prediction ----------------------------------------------------------------------
    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        logits = vectors @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        lr = np.exp(logits)
        lr /= lr.sum(axis=1, keepdims=True)
        return (1 - KNN_WEIGHT) * lr + KNN_WEIGHT * self._knn(vectors)

    def _knn(self, vectors: np.ndarray) -> np.ndarray:
        sims = vectors @ self.train.T
        k = min(KNN_K, sims.shape[1])
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        out = np.zeros((len(vectors), len(self.classes)), dtype=np.float64)
        weights = np.exp((np.take_along_axis(sims, top, axis=1) - 1.0) / KNN_TEMPERATURE)
        rows = np.repeat(np.arange(len(vectors)), k)
        np.add.at(out, (rows, self.train_labels[top].ravel()), weights.ravel())
        return out / np.clip(out.sum(axis=1, keepdims=True), 1e-12, None)

    def familiarity(self, vectors: np.ndarray) -> np.ndarray:
        nearest = (vectors @ self.train.T).max(axis=1)
        return np.clip((nearest - self.foreign) / max(1e-6, self.familiar - self.foreign), 0.0, 1.0)

    def _confidence(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.probabilities(vectors)
        confidence = p.max(axis=1) * self.familiarity(vectors)
        if OUT_OF_SCOPE in self.classes:
            confidence[p.argmax(axis=1) == self.classes.index(OUT_OF_SCOPE)] = 0.0
        return p, confidence

    def predict_vectors(self, vectors: np.ndarray) -> list[Prediction]:
        if not self.fitted:
            raise RuntimeError("TaxonomyModel is not fitted: train it on the account's labelled history first")
        p, confidence = self._confidence(vectors)
        familiarity = self.familiarity(vectors)
        results = []
        for i in range(len(vectors)):
            order = np.argsort(-p[i])[:5]
            top = int(order[0])
            results.append(
                Prediction(
                    label=self.classes[top],
                    confidence=round(float(confidence[i]), 4),
                    probability=round(float(p[i, top]), 4),
                    familiarity=round(float(familiarity[i]), 4),
                    abstain=bool(confidence[i] < self.abstain_below or self.classes[top] == OUT_OF_SCOPE),
                    scores={self.classes[j]: round(float(p[i, j]), 4) for j in order},
                )
            )
        return results

    def predict_many(self, texts: Sequence[str]) -> list[Prediction]:
        return self.predict_vectors(self.embedder.embed(list(texts))) if texts else []

    def predict(self, text: str) -> Prediction:
        return self.predict_many([text])[0]

    # -- persistence ---------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        meta = {
            "classes": self.classes,
            "familiar": self.familiar,
            "foreign": self.foreign,
            "abstain_below": self.abstain_below,
            "embedder": self.embedder.name,
        }
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            coef=self.coef,
            intercept=self.intercept,
            train=self.train.astype(np.float16),
            train_labels=self.train_labels,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, embedder: Embedder | None = None) -> TaxonomyModel:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            meta = json.loads(arrays["meta"].tobytes().decode())
            model = cls(embedder)
            model.classes = list(meta["classes"])
            model.familiar, model.foreign = float(meta["familiar"]), float(meta["foreign"])
            model.abstain_below = float(meta["abstain_below"])
            model.coef, model.intercept = arrays["coef"], arrays["intercept"]
            model.train = arrays["train"].astype(np.float32)
            model.train_labels = arrays["train_labels"]
        return model


def _nearest_other(vectors: np.ndarray, block: int = 2048) -> np.ndarray:
    """Each row's cosine to its nearest other row (blocked: 15k rows need no 900 MB matrix)."""
    out = np.empty(len(vectors), dtype=np.float32)
    for start in range(0, len(vectors), block):
        sims = vectors[start : start + block] @ vectors.T
        rows = np.arange(sims.shape[0])
        sims[rows, rows + start] = -1.0
        out[start : start + block] = sims.max(axis=1)
    return out
