"""Sentiment and anger of support prose: VADER plus the signals angry customers actually send.

VADER (lexicon + rules, tuned for short social text) misses much of what makes a support ticket
hot: long formal complaints full of "please" and "thank you" score positive, while the real signal
is a threat to cancel, sue or charge back, shouting, "!!!", or profanity. ``anger`` adds those up
to a score in [0, 1]; ``sentiment`` is VADER's compound, pulled down by anger when there is any.
Both are English: ``sentiment_in_language`` computes sentiment only for English text and says
which language it skipped otherwise (no multilingual lexicon ships offline in a package we use).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

ANGRY_THRESHOLD = 0.4

_THREAT = re.compile(
    r"\b(lawyers?|attorneys?|legal action|lawsuit|sue\b|suing|small claims|court|charge ?backs?"
    r"|dispute (the|this|these|my) (charge|transaction|payment)s?|better business bureau|\bbbb\b"
    r"|cfpb|consumer (protection|financial protection)|attorney general|ftc|report (you|this|them)"
    r"|take my business|switch(ing)? to (a )?(competitor|another)|never (use|recommend)"
    r"|(will|going to|gonna|i'll|i am|i'm) (be )?(cancel+ing|cancel|leave|leaving|close my account)"
    r"|cancel+ing (my|our) (account|subscription|contract) (if|unless|immediately|now|today)"
    r"|(if|unless) .{0,60}\b(cancel|refund|lawyer|dispute))",
    re.IGNORECASE,
)
_HOSTILE = re.compile(
    r"\b(unacceptable|ridiculous|outrageous|outraged|furious|livid|disgust(ed|ing)|pathetic"
    r"|incompetent|incompetence|useless|worst|horrible|terrible|appalling|scam(med|mers?)?|fraud(ulent)?"
    r"|rip(ped)?[- ]off|stole|steal(ing)?|theft|fed up|sick (and tired|of)|last straw|joke|insult(ing)?"
    r"|lied|lying|liars?|harass(ment|ing|ed)?|negligen(t|ce)|illegal(ly)?|violat(ed|ion|ing)"
    r"|shame(ful)?|absurd|refus(e|ed|es|ing) to|ignor(ed|ing) (my|our|me|us)|repeatedly|demand(ed)?"
    r"|infuriat(ed|ing)|nightmare|hours on hold|no one (has )?(helped|responded)"
    r"|still (not|no|waiting)|(again|third|fourth|fifth|multiple|several|numerous) times?)\b",
    re.IGNORECASE,
)
_PROFANITY = re.compile(
    r"\b(f+u+c+k+\w*|sh[i1]t+\w*|crap+y?|damn(ed|it)?|hell|bullsh[i1]t|wtf|stfu|ass(hole)?s?"
    r"|bastards?|bitch\w*|piss(ed)?|screw(ed)? (you|me|up|over)|idiots?|morons?|stupid)\b",
    re.IGNORECASE,
)
_EXCLAIM = re.compile(r"[!?]*![!?]*!|!{2,}")
_WORD = re.compile(r"[A-Za-z]{3,}")


@dataclass(frozen=True, slots=True)
class Signals:
    """What was found in one text; each field is a count (``shouting`` a share of words)."""

    compound: float
    threats: int
    hostile: int
    profanity: int
    exclaims: int
    shouting: float


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def signals(text: str) -> Signals:
    """Every anger cue in ``text`` and VADER's compound score (over at most 5,000 characters)."""
    text = (text or "")[:5000]
    words = _WORD.findall(text)
    caps = sum(1 for w in words if w.isupper() and w not in _ACRONYMS and set(w) != {"X"})  # XXXX: redacted
    shouting = caps / len(words) if len(words) >= 3 and caps >= 3 else 0.0
    return Signals(
        compound=float(_analyzer().polarity_scores(text)["compound"]) if text.strip() else 0.0,
        threats=len(_THREAT.findall(text)),
        hostile=len(_HOSTILE.findall(text)),
        profanity=len(_PROFANITY.findall(text)),
        exclaims=len(_EXCLAIM.findall(text)),
        shouting=shouting,
    )


def anger(text: str) -> float:
    """How angry or abusive the text reads, in [0, 1]."""
    return _anger(signals(text))


def _anger(s: Signals) -> float:
    score = (
        min(s.threats, 2) * 0.3
        + min(s.hostile, 3) * 0.15
        + min(s.profanity, 2) * 0.3
        + min(s.exclaims, 2) * 0.1
        + (0.3 if s.shouting >= 0.3 else 0.0)
        + max(0.0, -s.compound) * 0.3
    )
    return min(1.0, score)


def sentiment(text: str) -> float:
    """VADER's compound in [-1, 1], pulled toward -1 by anger (a polite threat is not positive)."""
    s = signals(text)  # once: VADER is most of the cost
    compound, level = s.compound, _anger(s)
    return max(-1.0, min(compound, -level)) if level > 0 else compound


SENTIMENT_LANGUAGES = ("en",)  # VADER's lexicon and the anger cues above are English


def sentiment_in_language(text: str) -> tuple[float | None, str | None]:
    """(sentiment, language): the sentiment only when the text is English (or too short to tell);
    None for another language — VADER reads German "die" as death, so it is not asked at all."""
    from deskhand.ai.language import detect_language

    language = detect_language(text)
    if language is not None and language.split("-")[0] not in SENTIMENT_LANGUAGES:
        return None, language
    return sentiment(text), language


def is_angry(text: str, threshold: float = ANGRY_THRESHOLD) -> bool:
    """True when ``anger(text)`` reaches ``threshold`` (0.4: e.g. a threat plus a hostile word)."""
    return anger(text) >= threshold


_ACRONYMS = frozenset(
    "API URL SSO SAML CSV PDF SMS MFA VPN DNS SSL TLS HTTP HTTPS JSON XML CEO CTO USA FAQ IOS "
    "ATM ACH APR LLC INC CFPB FTC BBB FCRA FDCPA TIN SSN EIN IRS USPS UPS DHL SKU".split()
)
