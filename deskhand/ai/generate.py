"""Grounded reply generation with an LLM (only for tickets that may get an automatic reply or a draft).

The model writes the body only (JSON: enough_context, answer, sources); deskhand adds the greeting,
the outro and the numbered source list, so the citations are always real. Temperature 0.2 and
top-p 0.9 (``GENERATE_TEMPERATURE``/``GENERATE_TOP_P``); the ticket is isolated as data by
``deskhand.ai.prompts``. The result still has to pass ``deskhand.ai.guardrails``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pydantic

from deskhand.ai.llm import LLM, Completion, Message
from deskhand.ai.prompts import GENERATE_SYSTEM, generate_user
from deskhand.model import Source

GENERATE_TEMPERATURE = 0.2
GENERATE_TOP_P = 0.9
GENERATE_MAX_TOKENS = 600
OUTRO = "If this does not solve it, reply to this message and a member of our team will take over."


class GeneratedAnswer(pydantic.BaseModel):
    enough_context: bool
    answer: str = ""
    sources: list[int] = pydantic.Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Generated:
    reply: str | None  # None: the model said the sources are not enough
    completion: Completion
    cited: tuple[Source, ...]


def generate_reply(
    llm: LLM, question: str, sources: Sequence[Source], *, customer_name: str | None = None
) -> Generated:
    """Ask ``llm`` for a reply to ``question`` grounded in ``sources`` (raises LLMError on failure)."""
    done = llm.complete(
        system=GENERATE_SYSTEM,
        messages=[Message("user", generate_user(question, sources))],
        schema=GeneratedAnswer,
        temperature=GENERATE_TEMPERATURE,
        top_p=GENERATE_TOP_P,
        max_tokens=GENERATE_MAX_TOKENS,
        task="generate",
    )
    answer = done.parsed if isinstance(done.parsed, GeneratedAnswer) else None
    if answer is None or not answer.enough_context or not answer.answer.strip():
        return Generated(None, done, ())
    cited = tuple(sources[i - 1] for i in dict.fromkeys(answer.sources) if 1 <= i <= len(sources)) or tuple(sources[:1])
    return Generated(frame_reply(answer.answer.strip(), cited, customer_name), done, cited)


def frame_reply(body: str, cited: Sequence[Source], customer_name: str | None) -> str:
    greeting = f"Hi {customer_name.split()[0]}," if customer_name and customer_name.split() else "Hi,"
    refs = "\n".join(f"[{i}] {s.title}" + (f" \u2014 {s.url}" if s.url else "") for i, s in enumerate(cited, 1))
    return f"{greeting}\n\n{body}\n\n{OUTRO}\n\nSources:\n{refs}"
