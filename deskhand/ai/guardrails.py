"""Checks on a reply before anything is sent; a reply that fails is demoted to a draft.

- **Grounding:** every content sentence of the reply, however short ("Yes, refunded." included),
  must be close (MiniLM cosine ≥
  ``GROUNDING_THRESHOLD``) to some sentence of the retrieved sources, or, when an LLM verifier is
  configured, judged supported by it. ``grounding`` is the weakest sentence's best similarity
  (1.0 when the reply only repeats source sentences), so it can be combined into the confidence.
- **Numbers match the sources:** every number in a content sentence must appear in the sources
  (or in the customer's own ticket): "10 minutes." where the source says 30 fails, however close
  the sentence is in meaning.
- **No promises of future action** ("we will refund you tomorrow", "within 24 hours"); a time limit
  that the supporting sources state themselves ("click the link within 24 hours") is quoted, not promised.
- **No leaks:** no email address, phone number or long number that is neither in the customer's
  ticket nor in the sources (other customers' data); no fragment of the system prompt; no talk of
  internal systems or instructions.

The reply's own frame (greeting, the standard outro, the "Sources:" list) is not checked for
grounding; it is fixed text written by deskhand.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pydantic

from deskhand.ai.embed import Embedder, default_embedder
from deskhand.ai.llm import LLM, LLMError, Message
from deskhand.model import Source

# Not yet calibrated on a labelled set of paraphrased vs. unsupported sentences: 0.62 was chosen by
# hand (tests/test_guardrails.py: close paraphrases of a source pass, unrelated claims fail).
# Verbatim source sentences score 1.0, so the offline extractive responder always passes.
GROUNDING_THRESHOLD = 0.62
LLM_FLOOR = 0.45  # with an LLM verifier: below this similarity a sentence is unsupported anyway
# A sentence ends at . ! ? followed by a capital, a digit or an opening quote/bracket ("click
# Forgot password? link if …" is one sentence), or at a line break (list items, paragraphs).
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“‘'(\[])|\n+")
_FRAME = re.compile(
    r"^(hi|hello|dear)\b.{0,40},?$|^thanks for reaching out\b|^if this does not solve it\b|^sources?:|^\[\d+\]"
    r"|^from our help article\b",
    re.IGNORECASE,
)
_LIST_MARK = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+")
COMMITMENT = (
    r"\b(?:we|i|our team|someone|an agent)\s*(?:will|'ll|shall|are going to|am going to|is going to)\s+"
    r"(?:personally\s+|now\s+|immediately\s+|also\s+)?"
    r"(?:refund|credit|reimburse|compensate|waive|fix|resolve|send|call|contact|email|escalate|process|issue"
    r"|follow up|get back|reach out|look into|investigate|cancel|reverse|replace|ship|deliver|make sure|ensure"
    r"|restore|unlock|reset|upgrade|give|transfer|pay|approve)\b"
    r"|\bwe guarantee\b|\bi promise\b"
)
DEADLINE = (
    r"\b(?:by|before) (?:tomorrow|tonight|monday|tuesday|wednesday|thursday|friday|end of (?:day|week))\b"
    r"|\bwithin (?:\d+|one|two|three|24|48) (?:hours?|days?|business days?)\b"
)
PROMISE = re.compile(f"{COMMITMENT}|{DEADLINE}", re.IGNORECASE)
_DEADLINE = re.compile(DEADLINE, re.IGNORECASE)

INTERNAL = re.compile(
    r"system prompt|my instructions|these rules|internal (?:notes?|tools?|systems?|database|ticket)"
    r"|as an ai\b|language model|<\/?ticket>|knowledge base id|deskhand",
    re.IGNORECASE,
)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<!\w)\+?\d[\d ().-]{7,}\d(?!\w)")
LONG_NUMBER = re.compile(r"(?<![\w.])(?:[A-Z]{1,4}-?)?\d{6,}(?![\w.])")


@dataclass(frozen=True, slots=True)
class GuardReport:
    passed: bool
    grounding: float  # weakest checked sentence's support in [0, 1]
    reasons: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()
    checked: int = 0
    verifier: str = "similarity"
    scores: tuple[float, ...] = field(default=(), repr=False)
    leaked: bool = False  # other people's data, the system prompt or internal talk: a sign of injection


class Verdict(pydantic.BaseModel):
    supported: list[bool]


def split_sentences(text: str) -> list[str]:
    parts = [_LIST_MARK.sub("", p).strip() for p in _SENTENCE.split(text or "")]
    return [p for p in parts if len(p) > 3]


def content_sentences(reply: str) -> list[str]:
    """Every sentence of the reply but its fixed frame (greeting, outro, source list), short ones included."""
    return [s for s in split_sentences(reply) if not _FRAME.search(s)]


_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,:]\d+)*(?![\w])")
_CITATION = re.compile(r"\[\d+\]")


def numbers(text: str) -> set[str]:
    """The numbers in ``text``, normalised ("1,000" → "1000"; citation markers like [1] skipped)."""
    return {m.group(0).replace(",", "").rstrip(".:") for m in _NUMBER.finditer(_CITATION.sub(" ", text))}


def unmatched_numbers(sentences: Sequence[str], sources: Sequence[Source], ticket_text: str = "") -> list[str]:
    """Reasons for numbers in the reply that neither the sources nor the customer's ticket contain."""
    known = numbers(ticket_text) | {n for src in sources for n in numbers(f"{src.title}\n{src.text}")}
    found = [n for sentence in sentences for n in sorted(numbers(sentence)) if n not in known]
    return [f"states number(s) the sources do not: {', '.join(dict.fromkeys(found))}"] if found else []


def check_reply(
    reply: str,
    *,
    ticket_text: str,
    sources: Sequence[Source],
    system_prompt: str = "",
    embedder: Embedder | None = None,
    verifier: LLM | None = None,
    threshold: float = GROUNDING_THRESHOLD,
) -> GuardReport:
    """Every check on ``reply``; ``passed`` only when all hold."""
    reasons: list[str] = []
    reasons += promises(reply, sources)
    leaked = leaks(reply, ticket_text=ticket_text, sources=sources, system_prompt=system_prompt)
    reasons += leaked
    sentences = content_sentences(reply)
    reasons += unmatched_numbers(sentences, sources, ticket_text)
    if not sources:
        return GuardReport(False, 0.0, tuple([*reasons, "no sources to ground the reply on"]), tuple(sentences),
                           leaked=bool(leaked))
    scores = similarity_support(sentences, sources, embedder)
    how = "similarity"
    supported = [s >= threshold for s in scores]
    if verifier is not None and sentences:
        verdict = verify_with_llm(verifier, sentences, sources)
        if verdict is not None:
            # the verifier decides, above a similarity floor: it can accept a paraphrase, never an
            # unrelated sentence (the verifier may be the very model that wrote the reply)
            supported = [v and s >= LLM_FLOOR for v, s in zip(verdict, scores, strict=True)]
            how = "llm"
    unsupported = tuple(s for s, ok in zip(sentences, supported, strict=True) if not ok)
    if unsupported:
        reasons.append(f"{len(unsupported)} of {len(sentences)} sentence(s) not supported by the sources")
    grounding = float(min(scores)) if scores else 0.0
    if not sentences:
        reasons.append("the reply says nothing that can be checked against the sources")
    return GuardReport(
        passed=not reasons,
        grounding=round(max(0.0, min(1.0, grounding)), 4),
        reasons=tuple(reasons),
        unsupported=unsupported,
        checked=len(sentences),
        verifier=how,
        scores=tuple(round(float(s), 4) for s in scores),
        leaked=bool(leaked),
    )


def similarity_support(sentences: Sequence[str], sources: Sequence[Source], embedder: Embedder | None) -> list[float]:
    """Per reply sentence: its best cosine against any source sentence (1.0 for a verbatim copy)."""
    if not sentences:
        return []
    source_sentences = [s for src in sources for s in split_sentences(src.text)] or [src.text for src in sources]
    normal = {_norm(s) for s in source_sentences}
    model = embedder or default_embedder()
    vectors = model.embed(list(sentences) + source_sentences)
    sims = vectors[: len(sentences)] @ vectors[len(sentences) :].T
    best = sims.max(axis=1) if sims.size else np.zeros(len(sentences))
    return [1.0 if _norm(s) in normal else float(b) for s, b in zip(sentences, best, strict=True)]


def verify_with_llm(llm: LLM, sentences: Sequence[str], sources: Sequence[Source]) -> list[bool] | None:
    """An LLM's sentence-by-sentence verdict (None when the verifier fails: similarity stands)."""
    numbered = "\n".join(f"{i}. {s}" for i, s in enumerate(sentences, 1))
    context = "\n\n".join(f"[{i}] {s.text}" for i, s in enumerate(sources, 1))
    system = (
        "You check whether each numbered sentence is fully supported by the sources. Answer JSON only: "
        '{"supported": [true|false for each sentence, in order]}.'
    )
    try:
        done = llm.complete(
            system=system,
            messages=[Message("user", f"Sources:\n{context}\n\nSentences:\n{numbered}")],
            schema=Verdict,
            temperature=0.0,
            max_tokens=200,
            task="verify",
        )
    except LLMError:
        return None
    verdict = done.parsed.supported if isinstance(done.parsed, Verdict) else []
    return verdict if len(verdict) == len(sentences) else None


def promises(reply: str, sources: Sequence[Source] = ()) -> list[str]:
    """The reply's promises of future action. A time limit the supporting sources state themselves
    ("click the link within 24 hours") is quoted policy, not a promise of ours: it is allowed."""
    quoted = " ".join(_norm(s.text) for s in sources)
    found = [m.group(0) for m in PROMISE.finditer(reply)
             if not (_DEADLINE.fullmatch(m.group(0)) and f" {_norm(m.group(0))} " in f" {quoted} ")]
    return [f"promises a future action: {found[0]!r}"] if found else []


def leaks(reply: str, *, ticket_text: str, sources: Sequence[Source], system_prompt: str = "") -> list[str]:
    reasons = []
    allowed = (ticket_text + "\n" + "\n".join(s.text + " " + (s.url or "") for s in sources)).lower()
    allowed_digits = {_digits(m.group(0)) for p in (PHONE, LONG_NUMBER) for m in p.finditer(allowed)}
    for label, pattern in (("an email address", EMAIL), ("a phone number", PHONE), ("an id or number", LONG_NUMBER)):
        for m in pattern.finditer(reply):
            value = m.group(0)
            if value.lower() in allowed or (label != "an email address" and _digits(value) in allowed_digits):
                continue
            reasons.append(f"contains {label} that is neither in the ticket nor in the sources")
            break
    if system_prompt and _shares_run(reply, system_prompt):
        reasons.append("repeats part of the system prompt")
    internal = INTERNAL.search(reply)
    if internal:
        reasons.append(f"mentions internal systems or instructions: {internal.group(0)!r}")
    return reasons


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def _shares_run(reply: str, prompt: str, n: int = 8) -> bool:
    """True when the reply contains any run of ``n`` consecutive words of the prompt."""
    words = _norm(prompt).split()
    runs = {" ".join(words[i : i + n]) for i in range(max(0, len(words) - n + 1))}
    text = f" {_norm(reply)} "
    return any(f" {run} " in text for run in runs)
