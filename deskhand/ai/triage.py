"""Ticket triage without an LLM: logistic regression on MiniLM embeddings.

Two multinomial logistic regressions share one embedding per ticket: one for the category, one for
the urgency. Their regularisation is picked by cross-validated log loss, so the probabilities are
calibrated in the sense that matters here (a 0.8 is right about four times in five on tickets like
the training ones).

A classifier always picks *some* class, even for "asdf qwer zxcv". So ``confidence`` is the
probability of the chosen category times a *familiarity* factor in [0, 1]: how close the ticket's
embedding is to its nearest training example, scaled between the similarity that training examples
have to their own nearest neighbours (familiar: 1) and a floor well below it (foreign: 0). ``scores``
keep the raw per-category probabilities.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import TypeAlias

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from deskhand.ai.embed import Embedder, default_embedder
from deskhand.ai.sentiment import sentiment_in_language
from deskhand.model import Triage, Urgency

log = logging.getLogger(__name__)

SEED_FILE = "seed_triage.jsonl"
SEED_PARAMS = "seed_triage.params.json"  # the seed's cross-validated C values (tests/test_triage.py checks them)
FAMILIAR_QUANTILE = 0.10  # training examples' own nearest-neighbour cosine at this quantile → 1.0
FOREIGN_GAP = 0.12  # that much below it → familiarity 0.0 (measured: off-topic text sits ~0.2-0.33)
MIN_WORDS = 3  # fewer words than this: confidence scaled down in proportion

_Classifier: TypeAlias = LogisticRegression | DummyClassifier


class TriageModel:
    """Category + urgency classifier over an embedder; ``fit`` before ``predict``."""

    def __init__(self, embedder: Embedder | None = None, *, cv: int = 5, seed: int = 0,
                 regularisation: Mapping[str, float] | None = None) -> None:
        """``regularisation``: the C of the ``category`` and ``urgency`` regressions, known in advance
        (the shipped seed's, see :func:`seed_model`); None: chosen by cross-validation at fit."""
        self._embedder = embedder
        self._given_c = dict(regularisation or {})
        self._cv = cv
        self._seed = seed
        self._category: _Classifier | None = None
        self._urgency: _Classifier | None = None
        self._train: np.ndarray = np.zeros((0, 0), dtype=np.float32)
        self._familiar = 1.0
        self._foreign = 0.0

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = default_embedder()
        return self._embedder

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self._fitted()[0].classes_)

    def fit(self, texts: Sequence[str], categories: Sequence[str], urgencies: Sequence[str]) -> TriageModel:
        """Learn from labelled tickets (each text: subject and body). Returns ``self``."""
        if not (len(texts) == len(categories) == len(urgencies)):
            raise ValueError("texts, categories and urgencies must have the same length")
        for value in set(urgencies):
            Urgency(value)  # ValueError naming the bad urgency
        vectors = self.embedder.embed(list(texts))
        self._category = self._regression(vectors, list(categories), self._given_c.get("category"))
        self._urgency = self._regression(vectors, list(urgencies), self._given_c.get("urgency"))
        self._train = vectors
        nearest = _nearest_other(vectors)
        self._familiar = float(np.quantile(nearest, FAMILIAR_QUANTILE))
        self._foreign = self._familiar - FOREIGN_GAP
        return self

    @property
    def regularisation(self) -> dict[str, float]:
        """The C each fitted regression uses (what ``regularisation=`` would give to skip the search)."""
        return {name: float(model.C) for name, model in zip(("category", "urgency"), self._fitted(), strict=True)
                if isinstance(model, LogisticRegression)}

    def _regression(self, vectors: np.ndarray, labels: list[str], c: float | None = None) -> _Classifier:
        """Multinomial logistic regression, C chosen by cross-validated log loss (calibration)."""
        if len(set(labels)) == 1:  # e.g. an account whose history has one urgency only
            return DummyClassifier(strategy="prior").fit(vectors, labels)
        if c is not None:
            return LogisticRegression(C=c, max_iter=2000).fit(vectors, labels)
        smallest = int(min(np.unique(labels, return_counts=True)[1]))
        folds = min(self._cv, smallest)
        if folds < 2:  # too few examples of some class to cross-validate: a sane default
            return LogisticRegression(C=10.0, max_iter=2000).fit(vectors, labels)
        search = GridSearchCV(
            LogisticRegression(max_iter=2000),
            {"C": list(np.logspace(-1, 3, 9))},
            scoring="neg_log_loss",
            cv=StratifiedKFold(folds, shuffle=True, random_state=self._seed),
        )
        best: LogisticRegression = search.fit(vectors, labels).best_estimator_
        return best

    def _fitted(self) -> tuple[_Classifier, _Classifier]:
        if self._category is None or self._urgency is None:
            raise RuntimeError("TriageModel is not fitted: call fit() first, or use seed_model()")
        return self._category, self._urgency

    def predict(self, text: str) -> Triage:
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[Triage]:
        category_model, urgency_model = self._fitted()
        if not texts:
            return []
        vectors = self.embedder.embed(list(texts))
        category_p = category_model.predict_proba(vectors)
        urgency_p = urgency_model.predict_proba(vectors)
        familiarity = self.familiarity(vectors)
        labels = [str(c) for c in category_model.classes_]
        results = []
        for i, text in enumerate(texts):
            feeling, language = sentiment_in_language(text)
            top = int(np.argmax(category_p[i]))
            confidence = float(category_p[i, top]) * float(familiarity[i]) * _length_factor(text)
            results.append(
                Triage(
                    category=labels[top],
                    urgency=Urgency(str(urgency_model.classes_[int(np.argmax(urgency_p[i]))])),
                    confidence=round(confidence, 4),
                    sentiment=feeling,
                    scores={label: round(float(p), 4) for label, p in zip(labels, category_p[i], strict=True)},
                    language=language,
                )
            )
        return results

    def familiarity(self, vectors: np.ndarray) -> np.ndarray:
        """Per row in [0, 1]: nearest-training-example cosine mapped from [foreign, familiar]."""
        nearest = (vectors @ self._train.T).max(axis=1)
        return np.clip((nearest - self._foreign) / (self._familiar - self._foreign), 0.0, 1.0)


def _nearest_other(vectors: np.ndarray) -> np.ndarray:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -1.0)
    return sims.max(axis=1)


def _length_factor(text: str) -> float:
    words = len(text.split())
    return min(1.0, words / MIN_WORDS)


def ticket_text(subject: str, body: str) -> str:
    """Subject and body as triage reads them (the same as ``Ticket.text``)."""
    return f"{subject}\n\n{body}".strip()


def load_seed() -> list[dict[str, str]]:
    """The labelled seed tickets shipped in ``deskhand/ai/data/seed_triage.jsonl``."""
    text = resources.files("deskhand.ai").joinpath("data", SEED_FILE).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


_seed: TriageModel | None = None
_seed_lock = threading.Lock()


def seed_digest() -> str:
    """The SHA-256 of the shipped seed file (what ``seed_triage.params.json`` was chosen on)."""
    return hashlib.sha256(resources.files("deskhand.ai").joinpath("data", SEED_FILE).read_bytes()).hexdigest()


def seed_regularisation(embedder: Embedder) -> dict[str, float] | None:
    """The C values cross-validation picks for the shipped seed with this embedder, when they were
    recorded for exactly this seed file and embedder (``seed_triage.params.json``); else None."""
    try:
        params = json.loads(resources.files("deskhand.ai").joinpath("data", SEED_PARAMS).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    if params.get("seed_sha256") != seed_digest() or params.get("embedder") != getattr(embedder, "name", None):
        return None
    return {k: float(v) for k, v in params["C"].items()}


def seed_model() -> TriageModel:
    """A model fitted on the seed tickets at first use, then kept for the process. The
    regularisation that cross-validation picks for the shipped seed is recorded beside it, so a
    process starts with two fits instead of ninety (seconds, not a minute, on a loaded machine)."""
    global _seed
    if _seed is None:
        with _seed_lock:
            if _seed is None:
                started = time.perf_counter()
                rows = load_seed()
                embedder = default_embedder()
                _seed = TriageModel(embedder, regularisation=seed_regularisation(embedder)).fit(
                    [ticket_text(r["subject"], r["body"]) for r in rows],
                    [r["category"] for r in rows],
                    [r["urgency"] for r in rows],
                )
                log.info(
                    "seed triage model fitted",
                    extra={"examples": len(rows), "seconds": round(time.perf_counter() - started, 2)},
                )
    return _seed
