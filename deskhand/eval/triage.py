"""Triage evaluation: learn an account's taxonomy from labelled history, classify a held-out split.

Datasets (read from ``shared/eval``, never copied):

- ``banking77``: ``train.csv`` is the labelled history, ``test.csv`` is classified; accuracy and
  macro-F1 over the 77 intents.
- ``clinc150``: ``train`` + ``oos_train`` (labelled out of scope) is the history; the abstention
  threshold is tuned on ``val`` + ``oos_val`` (``TARGET_OOS_RECALL_ON_VAL`` of the out-of-scope
  validation queries to a human);
  the figures are on ``test`` + ``oos_test``: in-scope accuracy (an abstention on an in-scope query
  counts as wrong, as in Larson et al. 2019) and the share of out-of-scope queries routed to a human.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score

from deskhand.ai.taxonomy import OUT_OF_SCOPE, TaxonomyModel
from deskhand.errors import ConfigError
from deskhand.eval.cache import CachedEmbedder, cached_embed

TARGET_OOS_RECALL_ON_VAL = 0.90  # chosen on val only: 0.85/0.88/0.90/0.92 → val in-scope acc 0.941/0.934/0.930/0.927


def evaluate_triage(dataset: Path, *, use_cache: bool = True) -> dict[str, Any]:
    """Figures for one dataset folder (banking77 or clinc150, recognised by its files)."""
    if (dataset / "train.csv").is_file() and (dataset / "test.csv").is_file():
        return _csv_taxonomy(dataset, use_cache)
    if (dataset / "data_full.json").is_file():
        return _clinc(dataset, use_cache)
    raise ConfigError(f"{dataset} is not a triage dataset: expected train.csv + test.csv, or data_full.json")


def _read_csv(path: Path) -> tuple[list[str], list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "text" not in rows[0] or "category" not in rows[0]:
        raise ConfigError(f"{path} needs the columns text,category")
    return [r["text"] for r in rows], [r["category"] for r in rows]


def _embed(texts: list[str], use_cache: bool) -> np.ndarray:
    return cached_embed(texts, use_cache=use_cache)


def _csv_taxonomy(dataset: Path, use_cache: bool) -> dict[str, Any]:
    started = time.perf_counter()
    texts, labels = _read_csv(dataset / "train.csv")
    test_texts, test_labels = _read_csv(dataset / "test.csv")
    model = TaxonomyModel(CachedEmbedder()).fit(texts, labels, vectors=_embed(texts, use_cache), holdout=False)
    predictions = model.predict_vectors(_embed(test_texts, use_cache))
    predicted = [p.label for p in predictions]
    truth = np.array(test_labels)
    return {
        "dataset": dataset.name,
        "n": len(test_texts),
        "train": len(texts),
        "categories": len(model.classes),
        "accuracy": round(float((np.array(predicted) == truth).mean()), 4),
        "macro_f1": round(float(f1_score(test_labels, predicted, average="macro")), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _clinc(dataset: Path, use_cache: bool) -> dict[str, Any]:
    started = time.perf_counter()
    data = json.loads((dataset / "data_full.json").read_text(encoding="utf-8"))

    def split(name: str) -> tuple[list[str], list[str], np.ndarray]:
        texts = [q for q, _ in data[name]]
        return texts, [label for _, label in data[name]], _embed(texts, use_cache)

    texts, labels, vectors = split("train")
    # CLINC's own oos_train split is part of the history, labelled out of scope (Larson et al.'s
    # "oos-train" setting): an account's history holds tickets that were not its business, too.
    oos_texts, _, oos_vectors = split("oos_train")
    texts, labels = texts + oos_texts, labels + [OUT_OF_SCOPE] * len(oos_texts)
    vectors = np.vstack([vectors, oos_vectors])
    model = TaxonomyModel(CachedEmbedder()).fit(texts, labels, vectors=vectors, holdout=False)
    _, _, val = split("val")
    _, _, oos_val = split("oos_val")
    in_scope = np.concatenate([np.ones(len(val), bool), np.zeros(len(oos_val), bool)])
    threshold = model.calibrate_abstention(np.vstack([val, oos_val]), in_scope, min_oos_recall=TARGET_OOS_RECALL_ON_VAL)
    _, test_labels, test = split("test")
    _, _, oos_test = split("oos_test")
    inside = model.predict_vectors(test)
    outside = model.predict_vectors(oos_test)
    correct = [not p.abstain and p.label == y for p, y in zip(inside, test_labels, strict=True)]
    return {
        "dataset": dataset.name,
        "n": len(test) + len(oos_test),
        "n_in_scope": len(test),
        "n_out_of_scope": len(oos_test),
        "in_scope_accuracy": round(float(np.mean(correct)), 4),
        "in_scope_accuracy_without_abstention": round(
            float(np.mean([p.label == y for p, y in zip(inside, test_labels, strict=True)])), 4
        ),
        "oos_to_human": round(float(np.mean([p.abstain for p in outside])), 4),
        "in_scope_to_human": round(float(np.mean([p.abstain for p in inside])), 4),
        "abstain_below": round(threshold, 4),
        "seconds": round(time.perf_counter() - started, 1),
    }
