"""Knowledge articles → chunks that keep their structure.

A folder of Markdown, plain text and HTML articles is read into ``Article`` values (HTML is turned
into Markdown-like blocks first). An article is split into top-level blocks with markdown-it
(headings, paragraphs, whole lists, whole code blocks, tables, quotes), and blocks are packed into
chunks of about ``target`` tokens (never more than ``limit`` unless a single code block or list is
bigger: those stay whole). A new section starts a new chunk once the current one is big enough; a
chunk cut for size repeats its last small block at the start of the next one (overlap).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from markdown_it import MarkdownIt

SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html", ".htm": "html"}
TARGET_TOKENS = 450
LIMIT_TOKENS = 600
MIN_SHARE = 2 / 3  # a chunk below this share of the target absorbs the next section
OVERLAP_TOKENS = 80  # the last block of a size-cut chunk is repeated if it is at most this big

_TOKEN = re.compile(r"\w+|[^\w\s]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True, slots=True)
class Article:
    source_id: str  # path relative to the knowledge folder, with forward slashes
    title: str
    text: str  # Markdown (plain text and HTML are converted)
    format: str  # markdown | text | html


@dataclass(frozen=True, slots=True)
class Chunk:
    source_id: str
    index: int  # position in its article
    title: str
    heading_path: tuple[str, ...]
    text: str
    hash: str  # sha256 of the text, 16 hex digits: unchanged text, unchanged hash
    kind: str = "knowledge_base"  # knowledge_base | resolved_ticket
    url: str | None = None

    @property
    def id(self) -> str:
        return f"{self.source_id}#{self.index}"


@dataclass(frozen=True, slots=True)
class _Block:
    text: str
    headings: tuple[str, ...]
    heading: bool = False
    whole: bool = False  # code, list or table: never split


def count_tokens(text: str) -> int:
    """A cheap stand-in for a subword tokenizer's count (words and punctuation marks)."""
    return len(_TOKEN.findall(text))


def load_folder(path: str | Path) -> list[Article]:
    """Every .md/.markdown/.txt/.html/.htm file under ``path``, sorted by relative path."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"knowledge folder {root} does not exist or is not a folder")
    articles = []
    for file in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES):
        if any(part.startswith(".") for part in file.relative_to(root).parts):
            continue
        articles.append(read_article(file, file.relative_to(root).as_posix()))
    return articles


def read_article(file: Path, source_id: str, *, text: str | None = None) -> Article:
    """``file`` as an article; ``text``: its contents already decoded (deskhand.knowledge_files)."""
    kind = SUFFIXES[file.suffix.lower()]
    raw = file.read_text(encoding="utf-8", errors="replace") if text is None else text
    title_hint = None
    if kind == "html":
        raw, title_hint = html_to_markdown(raw)
    elif kind == "text":
        raw = raw.replace("\r\n", "\n")
    heading = re.search(r"^#{1,6}\s+(.+?)\s*#*\s*$", raw, re.MULTILINE) if kind != "text" else None
    title = title_hint or (heading.group(1).strip() if heading else _title_from_name(file))
    return Article(source_id=source_id, title=title, text=raw.strip(), format=kind)


def _title_from_name(file: Path) -> str:
    return re.sub(r"[-_]+", " ", file.stem).strip().capitalize()


def chunk_article(
    article: Article, *, target: int = TARGET_TOKENS, limit: int = LIMIT_TOKENS
) -> list[Chunk]:
    """Split one article into structure-respecting chunks of about ``target`` tokens."""
    groups: list[list[_Block]] = []
    current: list[_Block] = []
    size = 0
    for block in _split_long(_blocks(article.text), limit):
        tokens = count_tokens(block.text)
        starts_section = block.heading and size >= target * MIN_SHARE
        too_big = bool(current) and size + tokens > limit
        if current and (starts_section or too_big or size >= target):
            headings: list[_Block] = []
            while current and current[-1].heading:  # a heading belongs with what follows it
                headings.insert(0, current.pop())
            if current:
                groups.append(current)
            tail = current[-1] if current else None
            overlap = (
                [tail]
                if tail and too_big and not headings and not block.heading
                and count_tokens(tail.text) <= OVERLAP_TOKENS
                else []
            )
            current = overlap + headings
            size = sum(count_tokens(b.text) for b in current)
        current.append(block)
        size += tokens
    if current:
        groups.append(current)
    chunks: list[Chunk] = []
    for group in groups:
        if all(b.heading for b in group) and len(groups) > 1:
            continue  # a heading with nothing under it
        text = "\n\n".join(b.text for b in group).strip()
        if not text:
            continue
        path = next((b.headings for b in group if not b.heading), group[0].headings)
        chunks.append(
            Chunk(
                source_id=article.source_id,
                index=len(chunks),
                title=article.title,
                heading_path=path,
                text=text,
                hash=hashlib.sha256(text.encode()).hexdigest()[:16],
            )
        )
    return chunks


def _blocks(markdown: str) -> list[_Block]:
    """Top-level Markdown blocks, each with the heading path it sits under."""
    lines = markdown.splitlines()
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    path: list[tuple[int, str]] = []
    blocks: list[_Block] = []
    for i, token in enumerate(tokens):
        if token.level != 0 or token.nesting == -1 or token.map is None:
            continue
        text = "\n".join(lines[token.map[0] : token.map[1]]).strip()
        if token.type == "heading_open":
            depth = int(token.tag[1])
            name = tokens[i + 1].content.strip()
            path = [(d, n) for d, n in path if d < depth] + [(depth, name)]
            blocks.append(_Block(text, tuple(n for _, n in path), heading=True))
            continue
        whole = token.type in {"fence", "code_block", "bullet_list_open", "ordered_list_open", "table_open"}
        if text:
            blocks.append(_Block(text, tuple(n for _, n in path), whole=whole))
    return blocks


def _split_long(blocks: list[_Block], limit: int) -> list[_Block]:
    """Paragraphs longer than ``limit`` are cut at sentence ends; code, lists and tables are not."""
    out: list[_Block] = []
    for block in blocks:
        if block.whole or block.heading or count_tokens(block.text) <= limit:
            out.append(block)
            continue
        piece: list[str] = []
        for sentence in _SENTENCE.split(block.text):
            if piece and count_tokens(" ".join([*piece, sentence])) > limit:
                out.append(_Block(" ".join(piece), block.headings))
                piece = []
            piece.append(sentence)
        if piece:
            out.append(_Block(" ".join(piece), block.headings))
    return out


class _HtmlToMarkdown(HTMLParser):
    """Just enough HTML → Markdown for help-centre articles: headings, paragraphs, lists, code."""

    _BLOCK = {"p", "div", "section", "article", "br", "tr", "table", "blockquote", "ul", "ol", "hr"}
    _SKIP = {"script", "style", "nav", "footer", "header", "noscript", "svg"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: str | None = None
        self._skip = 0
        self._pre = 0
        self._in_title = False
        self._lists: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in ("ul", "ol"):
            self._lists.append(tag)
            self.parts.append("\n")
        elif tag == "li":
            marker = "1." if self._lists and self._lists[-1] == "ol" else "-"
            self.parts.append("\n" + "  " * max(0, len(self._lists) - 1) + marker + " ")
        elif tag == "pre":
            self._pre += 1
            self.parts.append("\n\n```\n")
        elif tag == "code" and not self._pre:
            self.parts.append("`")
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n")
        elif tag in ("ul", "ol"):
            if self._lists:
                self._lists.pop()
            self.parts.append("\n\n")
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
            self.parts.append("\n```\n\n")
        elif tag == "code" and not self._pre:
            self.parts.append("`")
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = (self.title or "") + data.strip()
        elif not self._skip:
            if self._pre and self.parts and self.parts[-1].endswith("```\n") and data.startswith("\n"):
                data = data[1:]  # like browsers, drop the newline right after <pre>
            self.parts.append(data if self._pre else re.sub(r"\s+", " ", data))


def html_to_markdown(html: str) -> tuple[str, str | None]:
    """Markdown-like text of an HTML page, and its <title> if it has one."""
    parser = _HtmlToMarkdown()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    lines = [line if line.startswith("  ") else line.strip() for line in text.splitlines()]
    return "\n".join(lines).strip(), (parser.title or None)
