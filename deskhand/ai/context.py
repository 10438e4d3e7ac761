"""Context for the LLM: retrieved sources formatted for citation, inside a token budget.

Each source is rendered as::

    [Source 1 | Type: resolved_ticket | ID: zendesk:42 | Similarity: 0.91]
    <text>

Budget (tokens): system ~300, ticket ~500, context 2,000–3,000, reply ~800. Counting uses the
embedding model's WordPiece tokenizer (all-MiniLM-L6-v2's ``tokenizer.json``, via ``tokenizers``):
offline and deterministic, it is the stand-in for the chat model's own tokenizer (BPE tokenizers of
GPT/Claude models count English within ~10–20 % of WordPiece); pass another ``count`` to use the
real one. Truncation is deliberate and reported: the ticket is cut at the end (its start states the
problem), sources are taken best-first, a source that does not fit whole is cut at a sentence end
when at least ``MIN_PARTIAL`` tokens of it fit, else dropped; ``ContextPack.dropped``/``truncated``
say what happened. Nothing ever exceeds its budget.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from deskhand.model import Source

SYSTEM_TOKENS = 300
TICKET_TOKENS = 500
CONTEXT_TOKENS = 2500  # within the 2,000–3,000 band
REPLY_TOKENS = 800
MIN_PARTIAL = 120  # a cut source shorter than this is not worth its header
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")

Counter = Callable[[str], int]


@dataclass(frozen=True, slots=True)
class Budget:
    system: int = SYSTEM_TOKENS
    ticket: int = TICKET_TOKENS
    context: int = CONTEXT_TOKENS
    reply: int = REPLY_TOKENS

    @property
    def total(self) -> int:
        return self.system + self.ticket + self.context + self.reply


@dataclass(frozen=True, slots=True)
class ContextPack:
    system: str
    ticket: str
    context: str
    tokens: dict[str, int]  # system, ticket, context as counted; reply = what is left for the answer
    sources: tuple[Source, ...]  # those that made it in, in order (Source n = sources[n-1])
    truncated: tuple[str, ...] = field(default=())  # "ticket", source ids cut short
    dropped: tuple[str, ...] = field(default=())  # source ids left out


@lru_cache(maxsize=1)
def _wordpiece() -> object:
    from tokenizers import Tokenizer

    from deskhand.ai.embed import tokenizer_file

    tok = Tokenizer.from_file(str(tokenizer_file()))
    tok.no_truncation()
    tok.no_padding()
    return tok


def count_tokens(text: str) -> int:
    """Tokens of ``text`` for the MiniLM WordPiece tokenizer (special tokens excluded)."""
    if not text:
        return 0
    return len(_wordpiece().encode(text, add_special_tokens=False).ids)  # type: ignore[attr-defined]


def header(n: int, source: Source) -> str:
    return f"[Source {n} | Type: {source.kind} | ID: {source.id} | Similarity: {source.score:.2f}]"


def truncate(text: str, limit: int, count: Counter = count_tokens) -> str:
    """The longest prefix of ``text`` within ``limit`` tokens, cut at a sentence end when one fits,
    else at a word; an ellipsis marks the cut."""
    if count(text) <= limit:
        return text
    if limit <= 1:
        return ""
    pieces = [p for p in _SENTENCE_END.split(text) if p.strip()]
    kept: list[str] = []
    for piece in pieces:
        if count(" ".join([*kept, piece]) + " …") > limit:
            break
        kept.append(piece)
    if kept:
        return " ".join(kept) + " …"
    words = text.split()
    lo, hi = 0, len(words)
    while lo < hi:  # binary search on the number of words
        mid = (lo + hi + 1) // 2
        if count(" ".join(words[:mid]) + " …") <= limit:
            lo = mid
        else:
            hi = mid - 1
    return (" ".join(words[:lo]) + " …") if lo else ""


def build(
    system: str,
    ticket: str,
    sources: Sequence[Source],
    *,
    budget: Budget | None = None,
    count: Counter = count_tokens,
) -> ContextPack:
    """System prompt, ticket and sources within ``budget`` (a system prompt over budget is an error:
    it is ours, and cutting it silently would change the instructions)."""
    b = budget or Budget()
    system_tokens = count(system)
    if system_tokens > b.system:
        raise ValueError(f"system prompt is {system_tokens} tokens, over its budget of {b.system}")
    truncated: list[str] = []
    ticket_text = truncate(ticket, b.ticket, count)
    if ticket_text != ticket:
        truncated.append("ticket")
    blocks: list[str] = []
    used = 0
    kept: list[Source] = []
    dropped: list[str] = []
    for source in sources:
        head = header(len(kept) + 1, source)
        cost = count(head) + 1
        room = b.context - used - cost - (2 if blocks else 0)
        body = source.text.strip()
        if count(body) > room:
            if room < MIN_PARTIAL:
                dropped.append(source.id)
                continue
            body = truncate(body, room, count)
            truncated.append(source.id)
        block = f"{head}\n{body}"
        blocks.append(block)
        kept.append(source)
        used = count("\n\n".join(blocks))
    context = "\n\n".join(blocks)
    tokens = {"system": system_tokens, "ticket": count(ticket_text), "context": count(context), "reply": b.reply}
    assert tokens["context"] <= b.context and tokens["ticket"] <= b.ticket
    return ContextPack(system, ticket_text, context, tokens, tuple(kept), tuple(truncated), tuple(dropped))
