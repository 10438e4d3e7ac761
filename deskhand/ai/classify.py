"""Classification of a ticket into the account's taxonomy: offline model, LLM, or both.

- Offline (the default): the account's ``TaxonomyModel`` learned from its labelled history
  (``deskhand triage train``), with abstention; urgency and sentiment from the seed triage model.
  Without a learned taxonomy, the seed model (built-in categories) alone.
- With a classification LLM: category, urgency and confidence from the model at temperature 0,
  with the account's categories and their descriptions (setting ``categories``) and few-shot
  examples drawn from its labelled history. The offline prediction is the cross-check: when the two
  disagree, the confidence is the lower of the two, halved, and the disagreement is recorded.
  An LLM failure falls back to the offline prediction (recorded).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pydantic

from deskhand.ai.llm import LLM, Completion, LLMError, Message
from deskhand.ai.prompts import classify_system, classify_user
from deskhand.ai.taxonomy import TaxonomyModel
from deskhand.model import Triage, Urgency

log = logging.getLogger(__name__)
SHOTS_PER_CATEGORY = 2
MAX_SHOTS = 40
DISAGREEMENT_FACTOR = 0.5
OUT_OF_SCOPE = "out_of_scope"


class LLMClassification(pydantic.BaseModel):
    category: str
    urgency: Literal["low", "medium", "high", "critical"]
    confidence: float = pydantic.Field(ge=0.0, le=1.0)


@dataclass(frozen=True, slots=True)
class Classified:
    triage: Triage
    source: str  # offline | llm | llm+offline
    abstained: bool = False  # out of the account's scope: a human decides
    completion: Completion | None = None
    notes: tuple[str, ...] = ()
    offline: dict[str, Any] = field(default_factory=dict)


def categories_from_settings(settings: Mapping[str, Any], fallback: Sequence[str]) -> dict[str, str]:
    """The account's taxonomy: setting ``categories`` as {name: description}, a JSON string of it,
    or a comma list of names; else the learned (or built-in) category names."""
    raw = settings.get("categories")
    if isinstance(raw, str) and raw.strip().startswith("{"):
        raw = json.loads(raw)
    if isinstance(raw, Mapping):
        return {str(k): str(v or "") for k, v in raw.items()}
    if isinstance(raw, str) and raw.strip():
        return {name.strip(): "" for name in raw.split(",") if name.strip()}
    return {name: "" for name in fallback}


def pick_shots(history: Sequence[tuple[str, str]], per_category: int = SHOTS_PER_CATEGORY) -> list[tuple[str, str]]:
    """A few labelled examples per category (the first ones, stable), at most MAX_SHOTS."""
    chosen: list[tuple[str, str]] = []
    counts: dict[str, int] = {}
    for text, label in history:
        if counts.get(label, 0) < per_category and len(chosen) < MAX_SHOTS:
            chosen.append((text[:400], label))
            counts[label] = counts.get(label, 0) + 1
    return chosen


def classify_offline(text: str, seed: Any, taxonomy: TaxonomyModel | None) -> Classified:
    """Seed triage (urgency, sentiment, built-in categories), overridden by the account's taxonomy."""
    base: Triage = seed.predict(text)
    if taxonomy is None:
        return Classified(base, "offline", offline={"category": base.category, "confidence": base.confidence})
    p = taxonomy.predict(text)
    triage = dataclasses.replace(base, category=p.label, confidence=p.confidence, scores=p.scores)
    notes = (
        (f"out of the account's scope (confidence {p.confidence:.2f} < {taxonomy.abstain_below:.2f})",)
        if (p.abstain)
        else ()
    )
    info = {"category": p.label, "confidence": p.confidence, "familiarity": p.familiarity, "abstain": p.abstain}
    return Classified(triage, "offline", abstained=p.abstain, notes=notes, offline=info)


def classify(
    text: str,
    *,
    seed: Any,
    taxonomy: TaxonomyModel | None = None,
    llm: LLM | None = None,
    categories: Mapping[str, str] | None = None,
    shots: Sequence[tuple[str, str]] = (),
) -> Classified:
    offline = classify_offline(text, seed, taxonomy)
    if llm is None:
        return offline
    names = dict(categories or {}) or {c: "" for c in (taxonomy.classes if taxonomy else offline.triage.scores)}
    try:
        done = llm.complete(
            system=classify_system(names),
            messages=[Message("user", classify_user(text, shots))],
            schema=LLMClassification,
            temperature=0.0,
            max_tokens=120,
            task="classify",
        )
    except LLMError as exc:
        log.warning("classification LLM failed; using the offline model", extra={"error": str(exc)[:300]})
        return dataclasses.replace(offline, notes=(*offline.notes, f"classification LLM failed: {exc}"))
    answer = done.parsed
    assert isinstance(answer, LLMClassification)
    notes = list(offline.notes)
    category, confidence = answer.category, float(answer.confidence)
    if category not in names:
        notes.append(f"the LLM answered an unknown category {category!r}")
        category, confidence = offline.triage.category, min(confidence, offline.triage.confidence) * DISAGREEMENT_FACTOR
    elif taxonomy is not None and category != offline.triage.category:
        notes.append(f"LLM ({category}) and offline model ({offline.triage.category}) disagree")
        confidence = min(confidence, offline.triage.confidence) * DISAGREEMENT_FACTOR
    elif taxonomy is not None:  # agreement: the calibrated offline confidence, never raised by the LLM
        confidence = min(confidence, offline.triage.confidence) if confidence < 0.5 else offline.triage.confidence
    triage = dataclasses.replace(
        offline.triage, category=category, urgency=Urgency(answer.urgency), confidence=round(confidence, 4)
    )
    return Classified(
        triage,
        "llm+offline" if taxonomy is not None else "llm",
        abstained=offline.abstained,
        completion=done,
        notes=tuple(notes),
        offline=offline.offline,
    )
