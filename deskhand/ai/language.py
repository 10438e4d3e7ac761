"""Which language a support message is written in (ISO 639-1), for the rules and for sentiment.

``langdetect`` ships its language profiles in the package and is seeded here, so it is
deterministic and offline; English function words settle English first.
"""

from __future__ import annotations

import re

MIN_LANGUAGE_WORDS = 4  # shorter texts are not judged (too little evidence)
_ENGLISH = frozenset(
    "the a an and or to of in on for with is are was be it i my we our you your this that can how what "
    "do does not have has from at by please thanks hi hello".split()
)
LANGUAGE_CONFIDENCE = 0.9  # langdetect probability needed to call a text another language


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of ``text``, or None when too short or not clear-cut.

    English function words settle English first (langdetect's sampling can call a short English
    text Polish or Dutch, and its results vary between processes); otherwise langdetect's best
    language, only when its probability reaches LANGUAGE_CONFIDENCE.
    """
    words = re.findall(r"[^\W\d_]+", text.lower())
    if len(words) < MIN_LANGUAGE_WORDS:
        return None
    if sum(w in _ENGLISH for w in words) / len(words) >= 0.15:
        return "en"
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0
    try:
        best = detect_langs(text)[0]
    except (LangDetectException, IndexError):
        return None
    return str(best.lang) if best.prob >= LANGUAGE_CONFIDENCE else None
