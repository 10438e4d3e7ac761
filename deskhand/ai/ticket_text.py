"""What the customer wrote, told apart from what came with it: the ticket text pipeline.

Real tickets are long: issue-form templates, quoted mail, signatures, stack traces, logs, code
blocks, system-info tables. Classification and retrieval should read the customer's own words,
with the title weighted on its own, while the rest becomes *evidence* rather than prose ("has a
stack trace" says bug report; a 40-line log says nothing an embedding can use).

``read_ticket(subject, body)`` → ``TicketText``:

- ``title``: the subject, whitespace-normalised;
- ``prose``: the body with HTML comments, ``<details>`` blocks, fenced/indented code, stack
  traces, log lines, tables, quoted mail (``>`` lines and everything under "On … wrote:"),
  signatures and issue-form headings whose answer is empty removed; a template heading that was
  answered keeps its answer;
- ``signals``: flags of what was removed or seen (``stack_trace``, ``code``, ``log``, ``quoted``,
  ``template``, ``question``, ``error_words``, ``version_info``) — plain evidence tokens the
  lexical model learns from;
- ``chunks(max_chars)``: the title + prose cut on sentence/paragraph boundaries into pieces an
  embedder can read whole (MiniLM reads 256 tokens), for pooling instead of truncating.

Written by hand: no maintained library separates these parts of a support ticket (mail-reply
parsers such as ``mail-parser-reply`` handle only the quoting part, for mail only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_PROSE_CHARS = 6000  # beyond this, prose is more of the same: cut (keeps CPU per ticket bounded)

_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_DETAILS = re.compile(r"<details\b.*?(?:</details>|$)", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"(^|\n)[ \t]*(```|~~~)[^\n]*\n.*?(?:\n[ \t]*\2[^\n]*|$)", re.DOTALL)
_TAGS = re.compile(r"</?[a-zA-Z][^>\n]{0,200}>")
_URL = re.compile(r"https?://\S+")
_STACK_LINE = re.compile(
    r"^\s*(at\s+\S+.*[(:]\S*:\d+|at\s+\S+\s*\(|File \".*\", line \d+|Traceback \(most recent call last\)|"
    r"#\d+\s+0x[0-9a-f]+|\S+\.(?:java|kt|cs|go|rs|cpp|cc|c|h|py|js|ts|tsx|jsx):\d+|"
    r"(?:[A-Za-z_][\w.]*)?(?:Error|Exception):\s|Caused by:|\.\.\. \d+ more)",
)
_LOG_LINE = re.compile(
    r"^\s*(\[?\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}|\[?\d{2}:\d{2}:\d{2}[.,]\d+|\[(?:INFO|WARN|WARNING|ERROR|DEBUG|TRACE)\]|"
    r"(?:INFO|WARN|WARNING|ERROR|DEBUG|TRACE|FATAL)\s*[:\]|-]|[IWEF]\d{4}\s+\d{2}:\d{2})"
)
_TABLE_LINE = re.compile(r"^\s*\|.*\|\s*$|^\s*[-|: ]{3,}\s*$")
_QUOTE_LINE = re.compile(r"^\s*>")
_WROTE = re.compile(r"^\s*(On .{4,200} wrote:|-----\s*Original Message\s*-----|From: .+)$", re.IGNORECASE)
_SIGNATURE = re.compile(
    r"^\s*(--\s*|__+|Sent from my .+|(?:Best|Kind|Warm)? ?regards,?|Thanks?(?: you)?(?: in advance)?[,!.]?|"
    r"Cheers,?|Sincerely,?)\s*$",
    re.IGNORECASE,
)
_HEADING = re.compile(r"^\s*(#{1,6}\s+\S.*|\*\*[^*\n]{2,80}\*\*:?)\s*$")
_EMPTY_ANSWER = re.compile(r"^\s*(_?no response_?|n/?a|none|-|\.|\[\s?\]|tbd|no|yes)?\s*$", re.IGNORECASE)
_CHECKBOX = re.compile(r"^\s*[-*]\s*\[[ xX]\]\s*")
_VERSION = re.compile(r"\b(v?\d+\.\d+(?:\.\d+)+|version\s*:?\s*\d)", re.IGNORECASE)
_ERROR_WORDS = re.compile(
    r"\b(error|exception|crash(?:es|ed)?|fail(?:s|ed|ure)?|broken|segfault|panic|regression|doesn'?t work|"
    r"not working)\b",
    re.IGNORECASE,
)
_QUESTION = re.compile(r"\?(\s|$)|\b(how (?:do|can|to)|is it possible|what is the|why does|can i|should i)\b",
                       re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n{2,}")
_SPACES = re.compile(r"[ \t]+")
_BLANKS = re.compile(r"\n{3,}")


@dataclass(frozen=True, slots=True)
class TicketText:
    title: str
    prose: str
    signals: frozenset[str] = field(default_factory=frozenset)

    def lexical(self) -> str:
        """The text a lexical model reads: title twice (it is the densest part), prose, signal tokens."""
        tokens = " ".join(f"zzsig{s.replace('_', '')}" for s in sorted(self.signals))
        return f"{self.title}\n{self.title}\n{self.prose}\n{tokens}".strip()

    def chunks(self, max_chars: int = 900, limit: int = 4) -> list[str]:
        """Title + prose in at most ``limit`` pieces of ≤ ``max_chars``, cut between sentences."""
        head = self.title
        pieces: list[str] = []
        current = head
        for sentence in (s.strip() for s in _SENTENCE_END.split(self.prose)):
            if not sentence:
                continue
            if current and len(current) + 1 + len(sentence) > max_chars:
                pieces.append(current)
                if len(pieces) >= limit:
                    return pieces
                current = sentence[:max_chars]
            else:
                current = f"{current}\n{sentence}" if current else sentence[:max_chars]
        if current:
            pieces.append(current)
        return pieces[:limit] or [head or ""]


def read_ticket(subject: str, body: str) -> TicketText:
    """Split one ticket into the customer's words and evidence (see the module's docstring)."""
    signals: set[str] = set()
    text = (body or "").replace("\r\n", "\n").replace("\r", "\n")
    if _HTML_COMMENT.search(text):
        signals.add("template")
        text = _HTML_COMMENT.sub("", text)
    if _DETAILS.search(text):
        signals.add("version_info")
        text = _DETAILS.sub("\n", text)
    if _FENCE.search(text):
        fenced = " ".join(m.group(0) for m in _FENCE.finditer(text))
        signals.add("code")
        if any(_STACK_LINE.match(line) for line in fenced.splitlines()):
            signals.add("stack_trace")
        if any(_LOG_LINE.match(line) for line in fenced.splitlines()):
            signals.add("log")
        text = _FENCE.sub("\n", text)
    text = _TAGS.sub(" ", text)
    kept = _filter_lines(text.split("\n"), signals)
    prose = _BLANKS.sub("\n\n", "\n".join(kept)).strip()
    prose = _URL.sub("(link)", prose)[:MAX_PROSE_CHARS]
    title = _SPACES.sub(" ", (subject or "").strip())
    if _QUESTION.search(title) or _QUESTION.search(prose):
        signals.add("question")
    if _ERROR_WORDS.search(title) or _ERROR_WORDS.search(prose):
        signals.add("error_words")
    if _VERSION.search(body or ""):
        signals.add("version_info")
    return TicketText(title=title, prose=prose, signals=frozenset(signals))


def _filter_lines(lines: list[str], signals: set[str]) -> list[str]:
    """Drop quoted mail, signatures, traces, logs, tables, indented code and unanswered headings."""
    out: list[str] = []
    pending_heading: str | None = None
    for index, line in enumerate(lines):
        if _WROTE.match(line):
            signals.add("quoted")
            break  # everything under "On … wrote:" is the previous mail
        if _SIGNATURE.match(line) and index > 0 and len(lines) - index <= 6:
            break  # a sign-off near the end: the rest is the signature
        if _QUOTE_LINE.match(line):
            signals.add("quoted")
            continue
        if _STACK_LINE.match(line):
            signals.add("stack_trace")
            continue
        if _LOG_LINE.match(line):
            signals.add("log")
            continue
        if _TABLE_LINE.match(line):
            signals.add("version_info")
            continue
        if line.startswith(("    ", "\t")) and line.strip():
            signals.add("code")
            continue
        if _HEADING.match(line):
            signals.add("template")
            pending_heading = line.strip().strip("#*: ").strip()
            continue
        line = _CHECKBOX.sub("", line)
        if pending_heading is not None:
            if _EMPTY_ANSWER.match(line):
                continue  # a heading whose answer is empty, "_No response_", "N/A"…: template only
            pending_heading = None
        out.append(_SPACES.sub(" ", line).rstrip())
    return out
