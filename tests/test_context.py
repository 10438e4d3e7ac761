"""LLM context: the seed's source headers and a token budget that is never overflowed."""

from __future__ import annotations

import pytest

from deskhand.ai.context import Budget, build, count_tokens, header, truncate
from deskhand.model import Source


def src(i: int, text: str, score: float = 0.91, kind: str = "resolved_ticket") -> Source:
    return Source(id=f"zendesk:{i}", title=f"T{i}", text=text, score=score, kind=kind)


def test_header_matches_the_seed_format() -> None:
    assert header(1, src(42, "x")) == "[Source 1 | Type: resolved_ticket | ID: zendesk:42 | Similarity: 0.91]"


def test_count_uses_the_wordpiece_tokenizer() -> None:
    assert count_tokens("") == 0
    assert count_tokens("unbelievably") > 1  # subwords, not words


@pytest.mark.parametrize("limit", [5, 40, 150])
def test_truncate_never_exceeds_the_limit_and_marks_the_cut(limit: int) -> None:
    text = "First sentence here. " * 50
    cut = truncate(text, limit)
    assert count_tokens(cut) <= limit and cut.endswith("…")


def test_short_text_is_not_truncated() -> None:
    assert truncate("Hello there.", 50) == "Hello there."


def test_everything_fits_when_small() -> None:
    pack = build("You answer tickets.", "My invoice is wrong.", [src(1, "Fix A."), src(2, "Fix B.")])
    assert pack.context.startswith("[Source 1 | Type: resolved_ticket | ID: zendesk:1 | Similarity: 0.91]\nFix A.")
    assert "[Source 2 |" in pack.context and pack.truncated == () and pack.dropped == ()


def test_over_budget_sources_are_cut_then_dropped_and_reported() -> None:
    long = "Open settings and reset the password from the login page. " * 150
    budget = Budget(context=2000)
    pack = build("sys", "ticket " * 2000, [src(i, long) for i in range(4)], budget=budget)
    assert pack.tokens["context"] <= 2000 and pack.tokens["ticket"] <= budget.ticket
    assert "ticket" in pack.truncated
    assert pack.dropped and len(pack.sources) + len(pack.dropped) == 4
    assert pack.sources[0].id == "zendesk:0"  # best first


def test_system_prompt_over_budget_is_an_error_not_a_silent_cut() -> None:
    with pytest.raises(ValueError, match="system prompt"):
        build("word " * 400, "t", [])
