"""Classification of a ticket into the account's taxonomy: offline model, LLM, or both.

- Offline (the default): the account's ``TaxonomyModel`` learned from its labelled history
  (``deskhand triage train``), with abstention; urgency and sentiment from the seed triage model.
  Without a learned taxonomy, the seed model (built-in categories) alone.
- With a classification LLM: category and urgency from the model at temperature 0, with the
  account's categories and their descriptions (setting ``categories``) and few-shot examples drawn
  from its labelled history. The answer's schema makes the category an enum of the account's
  categories (constrained decoding where the server offers it; anything else is invalid and
  repaired once). The confidence is never the model's say-so (it is not even asked for): it is the
  offline model's calibrated probability of the category the LLM chose, times the offline model's
  familiarity with the ticket. A category no offline model knows (setting ``categories`` without a
  trained taxonomy) gets confidence 0 with a note: nothing calibrated vouches for it.
  When the LLM and the offline model disagree, that is recorded (the probability is then low).
  An LLM failure falls back to the offline prediction, exactly as if no LLM were configured
  (recorded with its cause in ``llm_error``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

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
URGENCIES = ("low", "medium", "high", "critical")


class LLMClassification(pydantic.BaseModel):
    """The classification LLM's answer (``category`` is an enum in :func:`classification_schema`)."""

    category: str
    urgency: Literal["low", "medium", "high", "critical"]


def classification_schema(categories: Sequence[str]) -> type[LLMClassification]:
    """``LLMClassification`` with ``category`` restricted to ``categories`` (a JSON-schema enum)."""
    names = tuple(dict.fromkeys(categories))
    if not names:
        raise ValueError("a classification needs at least one category")
    enum = cast(Any, Literal).__getitem__(names)
    return pydantic.create_model(
        "Classification", __base__=LLMClassification, __doc__="The ticket's category and urgency.",
        category=(enum, pydantic.Field(description="one of the company's category names")),
    )


@dataclass(frozen=True, slots=True)
class Classified:
    triage: Triage
    source: str  # offline | llm | llm+offline
    abstained: bool = False  # out of the account's scope: a human decides
    completion: Completion | None = None
    notes: tuple[str, ...] = ()
    offline: dict[str, Any] = field(default_factory=dict)
    llm_error: str | None = None  # the classification LLM failed: its cause (the offline model decided)
    calibration: dict[str, float] = field(default_factory=dict, repr=False)  # category → calibrated confidence


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
        top = base.scores.get(base.category) or 0.0
        factor = base.confidence / top if top > 0 else 0.0  # the seed's familiarity × length factor
        return Classified(base, "offline", offline={"category": base.category, "confidence": base.confidence},
                          calibration={c: round(float(v) * factor, 4) for c, v in base.scores.items()})
    p = taxonomy.predict(text)
    triage = dataclasses.replace(base, category=p.label, confidence=p.confidence, scores=p.scores)
    notes = (
        (f"out of the account's scope (confidence {p.confidence:.2f} < {taxonomy.abstain_below:.2f})",)
        if (p.abstain)
        else ()
    )
    info = {"category": p.label, "confidence": p.confidence, "familiarity": p.familiarity, "abstain": p.abstain}
    known = dict.fromkeys(taxonomy.classes, 0.0)  # beyond the top five: below the fifth, taken as 0
    calibration = {**known, **{c: round(float(v) * p.familiarity, 4) for c, v in p.scores.items()}}
    return Classified(triage, "offline", abstained=p.abstain, notes=notes, offline=info, calibration=calibration)


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
            schema=classification_schema(list(names)),
            temperature=0.0,
            max_tokens=120,
            task="classify",
        )
    except LLMError as exc:
        cause = f"{exc.kind}: {exc}"
        log.warning("classification LLM %s failed, the offline model classifies: %s", llm.name, cause[:300],
                    extra={"llm": llm.name, "error": cause[:500]})
        return dataclasses.replace(offline, llm_error=cause[:500],
                                   notes=(*offline.notes, f"classification LLM failed ({cause[:300]}); "
                                          "the offline model classified"))
    answer = done.parsed
    assert isinstance(answer, LLMClassification)
    notes = list(offline.notes)
    category = answer.category
    if category in offline.calibration:
        confidence = offline.calibration[category]
        if category != offline.triage.category:
            notes.append(f"LLM ({category}) and offline model ({offline.triage.category}) disagree; the offline "
                         f"model's probability of {category} is {confidence:.2f}")
    else:
        confidence = 0.0
        notes.append(f"no trained model knows category {category!r}, so nothing calibrated vouches for the LLM's "
                     "choice (confidence 0): train the account's taxonomy (`deskhand triage train`)")
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
        calibration=offline.calibration,
    )
