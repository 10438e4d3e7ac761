"""The offline responder's reply: extractive, grounded in the best sources, and cited.

No text is invented: every line of the answer is a sentence or list item taken from a retrieved
source, chosen by word overlap with the customer's message, in the source's own order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from deskhand.model import Source

_WORD = re.compile(r"[a-z0-9]+")
_LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+(.*)$")
_STOP = frozenset(
    "a an and are as at be by can do does for from how i if in is it me my of on or our the this to "
    "we what when where which who why will with you your".split()
)
MAX_LINES = 6


def tokens(text: str) -> list[str]:
    """The content words of `text`, in order, repeats kept (lower case, stop words dropped)."""
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1]


def words(text: str) -> set[str]:
    return set(tokens(text))


def plain(text: str) -> str:
    """Markdown emphasis and inline code markers off: helpdesk comment bodies are plain text."""
    return re.sub(r"(\*\*|__|`)(.+?)\1", r"\2", text)


def _units(text: str) -> tuple[list[str], bool]:
    """Split a chunk into list items (if it has a list) or sentences; headings are dropped."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    lines = [plain(ln) for ln in lines]
    items = [m.group(1).strip() for ln in lines if (m := _LIST_ITEM.match(ln))]
    if len(items) >= 2:
        return items, True
    prose = " ".join(ln.strip() for ln in lines)
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", prose) if len(s.strip()) > 3], False


def extract(question: str, source: Source, max_lines: int = MAX_LINES) -> tuple[list[str], bool]:
    """The lines of `source` that answer `question`: the whole list of steps, else the best sentences."""
    units, is_list = _units(source.text)
    if is_list:
        return units[:max_lines], True
    q = words(question)
    ranked = sorted(range(len(units)), key=lambda i: (-len(q & words(units[i])), i))
    keep = sorted(ranked[: min(3, max_lines)])
    return [units[i] for i in keep], False


def compose_reply(question: str, sources: Sequence[Source], *, customer_name: str | None = None) -> str | None:
    """A cited reply from the best source (None when there is nothing to ground it on)."""
    if not sources:
        return None
    best = sources[0]
    lines, is_list = extract(question, best)
    if not lines:
        return None
    greeting = f"Hi {customer_name.split()[0]}," if customer_name else "Hi,"
    intro = f"Thanks for reaching out. From our help article \u201c{best.title}\u201d [1]:"
    if is_list:
        body = "\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1))
    else:
        body = " ".join(lines)
    cite = f"[1] {best.title}" + (f" \u2014 {best.url}" if best.url else "")
    outro = "If this does not solve it, reply to this message and a member of our team will take over."
    return f"{greeting}\n\n{intro}\n\n{body}\n\n{outro}\n\nSources:\n{cite}"
