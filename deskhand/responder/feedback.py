"""What a customer's reply says about our answer: it worked, it did not help, or neither.

A logistic regression over MiniLM sentence embeddings, trained on the hand-written examples below
(held-out, real-looking replies test it in tests/test_outcomes.py). Offline, loaded once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from deskhand.ai.embed import Embedder, default_embedder


class Feedback(StrEnum):
    WORKED = "worked"
    NOT_HELPED = "not_helped"
    OTHER = "other"


EXAMPLES: dict[Feedback, tuple[str, ...]] = {
    Feedback.WORKED: (
        "Thanks, that worked!",
        "Perfect, that fixed it. Thank you so much.",
        "Great, I was able to reset my password with those steps.",
        "That did the trick, all sorted now.",
        "Yes that solved my problem, you can close the ticket.",
        "Awesome, it works now. Cheers!",
        "Got it working, thanks for the quick help.",
        "Brilliant, the refund showed up. Thanks!",
        "Followed the steps and I'm back in my account. Thank you!",
        "All good now, problem solved.",
        "Many thanks, the export worked perfectly.",
        "That answered my question, appreciate it.",
        "Works like a charm now, thank you team.",
        "Issue resolved on my end, thanks for the help!",
        "Excellent, I found the setting where you said. Thanks.",
        "Super helpful, everything is fine now.",
    ),
    Feedback.NOT_HELPED: (
        "That didn't help, I still can't log in.",
        "This did not solve my problem.",
        "I already tried that and it still doesn't work.",
        "Still broken. Your instructions don't match what I see.",
        "No, that's not what I asked. Can I talk to a human?",
        "The link you sent doesn't work, still stuck.",
        "Unfortunately the issue persists after following the steps.",
        "I did exactly what the article says and nothing changed.",
        "This answer is useless, please have a real person look at it.",
        "Nope, still getting the same error message.",
        "That's not my problem at all, I was charged twice and need a refund.",
        "Your automated reply did not help me at all.",
        "The reset email never arrives, so these steps don't help.",
        "I'm still locked out, please escalate.",
        "Doesn't work. Same issue as before.",
        "That isn't working for me either.",
        "Didn't help: the button you mention just reloads the page.",
        "Tried it, but the page shows an error again.",
    ),
    Feedback.OTHER: (
        "Can you also tell me how to add a teammate?",
        "What are your opening hours?",
        "Here is the screenshot you asked for.",
        "My account email is jane@example.com.",
        "I'll try this tomorrow when I'm back at my desk.",
        "Is there a discount for annual plans?",
        "Any update on this?",
        "Please see the attached invoice.",
        "Which browser do you recommend?",
        "OK, I will check with my admin first.",
        "Also, do you support single sign-on?",
        "Could you send me the invoice for March as well?",
        "I'm on the Pro plan, if that matters.",
        "When will the new feature be released?",
        "Hello, I have a different question about exports.",
        "Our company name changed, how do I update it?",
    ),
}


@dataclass(frozen=True, slots=True)
class Reading:
    feedback: Feedback
    confidence: float


class FeedbackClassifier:
    def __init__(self, embedder: Embedder | None = None, min_confidence: float = 0.4) -> None:
        from sklearn.linear_model import LogisticRegression

        self.embedder = embedder or default_embedder()
        self.min_confidence = min_confidence
        texts = [t for texts in EXAMPLES.values() for t in texts]
        labels = [label.value for label, texts in EXAMPLES.items() for _ in texts]
        self._model = LogisticRegression(C=10.0, max_iter=2000).fit(self.embedder.embed(texts), labels)

    def read(self, text: str) -> Reading:
        """The feedback in `text` (OTHER when unsure)."""
        probs = self._model.predict_proba(self.embedder.embed([_first_paragraphs(text)]))[0]
        best = int(np.argmax(probs))
        label, confidence = Feedback(self._model.classes_[best]), float(probs[best])
        if confidence < self.min_confidence:
            return Reading(Feedback.OTHER, confidence)
        return Reading(label, round(confidence, 4))


def _first_paragraphs(text: str, limit: int = 600) -> str:
    """The customer's own words: quoted history ("> …", "On … wrote:") cut off."""
    kept = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith(">") or (s.startswith("On ") and s.endswith("wrote:")):
            break
        kept.append(line)
    return "\n".join(kept).strip()[:limit] or text[:limit]


_model: FeedbackClassifier | None = None
_lock = threading.Lock()


def classifier() -> FeedbackClassifier:
    global _model
    with _lock:
        if _model is None:
            _model = FeedbackClassifier()
        return _model
