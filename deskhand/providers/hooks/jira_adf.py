"""Atlassian Document Format (ADF) <-> markdown-ish plain text.

Jira Cloud's REST v3 takes and returns ADF for issue descriptions and comment bodies; deskhand keeps
plain text (markdown-ish) in its unified model. Two functions:

- `adf_to_text(doc)` walks any ADF document. Known nodes render as markdown (headings, lists, code
  fences, quotes, tables, links); mentions, emoji, status lozenges, dates, cards and media render as
  their readable text; unknown nodes degrade to their text content. It never raises on odd input.
- `text_to_adf(text)` parses markdown with markdown-it-py (well kept, CommonMark-compliant; already a
  dependency through rich) and maps its token stream onto ADF nodes: paragraphs, headings, bullet and
  ordered lists (nested), fenced code with language, inline code, strong/em/strike, links, hard
  breaks, blockquotes, rules and tables. A single newline inside a paragraph becomes a `hardBreak`
  (people type replies line by line; Jira renders them that way), so plain text survives intact.

For that subset `adf_to_text(text_to_adf(t))` is a fixed point after one pass.
PyPI ADF converters exist but are young single-author packages; the mapping is small, the parsing
(the hard part) is markdown-it's.
"""

from __future__ import annotations

from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from deskhand.timestamps import to_datetime

Node = dict[str, Any]

_MARK_ORDER = ("code", "em", "strong", "strike", "link")
_WRAP = {"code": "`", "em": "*", "strong": "**", "strike": "~~"}
_INDENT_BULLET = "  "


# --------------------------------------------------------------------------------------------- ADF -> text


def adf_to_text(doc: Any) -> str:
    """Render an ADF document (or any node, or a plain string) as markdown-ish text."""
    if doc is None:
        return ""
    if isinstance(doc, str):
        return doc
    if not isinstance(doc, dict):
        return ""
    if _is_inline(doc):
        return _inline_text([doc])
    return _blocks(_children(doc) if doc.get("type") == "doc" else [doc]).strip("\n")


def _children(node: Node) -> list[Node]:
    content = node.get("content")
    if not isinstance(content, list):
        return []
    return [c for c in content if isinstance(c, dict)]


def _attrs(node: Node) -> dict[str, Any]:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, dict) else {}


_INLINE_TYPES = {
    "text", "hardBreak", "mention", "emoji", "status", "date", "inlineCard", "mediaInline",
    "placeholder", "inlineExtension",
}


def _is_inline(node: Node) -> bool:
    return node.get("type") in _INLINE_TYPES


def _blocks(nodes: list[Node], sep: str = "\n\n") -> str:
    parts = [_block(n) for n in nodes]
    return sep.join(p for p in parts if p != "")


def _block(node: Node) -> str:
    kind = node.get("type")
    attrs = _attrs(node)
    if _is_inline(node):
        return _inline_text([node])
    if kind == "paragraph":
        return _inline_text(_children(node))
    if kind == "heading":
        raw_level = attrs.get("level")
        level = raw_level if isinstance(raw_level, int) else 1
        text = _inline_text(_children(node)).replace("\n", " ")
        return f"{'#' * max(1, min(6, level))} {text}"
    if kind in ("bulletList", "orderedList", "taskList", "decisionList"):
        return _list(node)
    if kind == "codeBlock":
        code = "".join(str(c.get("text", "")) for c in _children(node))
        fence = "````" if "```" in code else "```"
        return f"{fence}{attrs.get('language') or ''}\n{code}\n{fence}"
    if kind == "blockquote":
        inner = _blocks(_children(node))
        return "\n".join(f"> {line}" if line else ">" for line in inner.split("\n"))
    if kind == "rule":
        return "---"
    if kind == "table":
        return _table(node)
    if kind in ("mediaSingle", "mediaGroup"):
        return "\n".join(_media(m) for m in _children(node))
    if kind == "media":
        return _media(node)
    if kind in ("blockCard", "embedCard"):
        return str(attrs.get("url") or _attrs_data_url(attrs))
    if kind in ("expand", "nestedExpand"):
        title = str(attrs.get("title") or "")
        body = _blocks(_children(node))
        return f"{title}\n\n{body}".strip("\n") if title else body
    return _blocks(_children(node))  # panel, layoutSection/Column, bodiedExtension, unknown


def _list(node: Node) -> str:
    kind = node.get("type")
    start = _attrs(node).get("order")
    number = start if isinstance(start, int) else 1
    lines: list[str] = []
    for item in _children(node):
        if kind == "orderedList":
            marker = f"{number}. "
            number += 1
        elif item.get("type") == "taskItem":
            marker = "- [x] " if _attrs(item).get("state") == "DONE" else "- [ ] "
        else:
            marker = "- "
        body = _list_item(item)
        pad = " " * len(marker) if kind == "orderedList" else _INDENT_BULLET
        first, *rest = body.split("\n") if body else [""]
        lines.append(marker + first)
        lines.extend(pad + line if line else "" for line in rest)
    return "\n".join(lines)


def _list_item(item: Node) -> str:
    if item.get("type") in ("taskItem", "decisionItem"):
        return _inline_text(_children(item))
    out = ""
    prev_list = False
    for child in _children(item):
        text = _block(child)
        if text == "":
            continue
        is_list = child.get("type") in ("bulletList", "orderedList", "taskList", "decisionList")
        if out:
            out += "\n" if is_list or prev_list else "\n\n"
        out += text
        prev_list = is_list
    return out


def _table(node: Node) -> str:
    rows: list[list[str]] = []
    for row in _children(node):
        cells = [_blocks(_children(c), " ").replace("\n", " ").replace("|", "\\|") for c in _children(row)]
        rows.append(cells)
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    lines = []
    for i, cells in enumerate(rows):
        padded = cells + [""] * (width - len(cells))
        lines.append("| " + " | ".join(padded) + " |")
        if i == 0:
            lines.append("| " + " | ".join(["---"] * width) + " |")
    return "\n".join(lines)


def _media(node: Node) -> str:
    attrs = _attrs(node)
    if attrs.get("type") == "external" and attrs.get("url"):
        return str(attrs["url"])
    name = attrs.get("alt") or attrs.get("filename") or attrs.get("id") or "file"
    return f"[attachment: {name}]"


def _attrs_data_url(attrs: dict[str, Any]) -> str:
    data = attrs.get("data")
    if isinstance(data, dict):
        return str(data.get("url") or data.get("name") or "")
    return ""


def _inline_text(nodes: list[Node]) -> str:
    return "".join(_inline(n) for n in nodes)


def _inline(node: Node) -> str:
    kind = node.get("type")
    attrs = _attrs(node)
    if kind == "text":
        return _marked(str(node.get("text", "")), node.get("marks"))
    if kind == "hardBreak":
        return "\n"
    if kind == "mention":
        text = attrs.get("text") or f"@{attrs.get('id', 'someone')}"
        return str(text) if str(text).startswith("@") else f"@{text}"
    if kind == "emoji":
        return str(attrs.get("text") or attrs.get("shortName") or "")
    if kind == "status":
        return f"[{attrs.get('text', '')}]"
    if kind == "date":
        return _date(attrs.get("timestamp"))
    if kind == "inlineCard":
        return str(attrs.get("url") or _attrs_data_url(attrs))
    if kind == "mediaInline":
        return _media(node)
    if kind == "placeholder":
        return ""
    if "text" in node and isinstance(node["text"], str):
        return node["text"]
    inner = _children(node)
    return _inline_text(inner) if all(_is_inline(c) for c in inner) else _blocks(inner)


def _date(timestamp: Any) -> str:
    when = to_datetime(timestamp, "epoch_ms")
    return when.strftime("%Y-%m-%d") if when else str(timestamp or "")


def _marked(text: str, marks: Any) -> str:
    if not text or not isinstance(marks, list):
        return text
    by_type = {m.get("type"): m for m in marks if isinstance(m, dict)}
    core = text.strip(" ")
    if not core:
        return text
    lead = text[: len(text) - len(text.lstrip(" "))]
    trail = text[len(text.rstrip(" ")) :]
    for kind in _MARK_ORDER:
        if kind not in by_type:
            continue
        if kind == "code":
            tick = "``" if "`" in core else "`"
            core = f"{tick}{core}{tick}"
        elif kind == "link":
            href = _attrs(by_type[kind]).get("href", "")
            core = f"[{core}]({href})"
        else:
            core = f"{_WRAP[kind]}{core}{_WRAP[kind]}"
    return f"{lead}{core}{trail}"


# --------------------------------------------------------------------------------------------- text -> ADF

_MD = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])

_BLOCK_OPEN = {
    "paragraph_open": "paragraph", "heading_open": "heading", "bullet_list_open": "bulletList",
    "ordered_list_open": "orderedList", "list_item_open": "listItem", "blockquote_open": "blockquote",
    "table_open": "table", "tr_open": "tableRow", "th_open": "tableHeader", "td_open": "tableCell",
}
_NO_HEADINGS_IN = {"listItem", "blockquote", "tableHeader", "tableCell"}


def text_to_adf(text: str) -> Node:
    """Parse markdown-ish text into an ADF `doc` (version 1)."""
    doc: Node = {"type": "doc", "version": 1, "content": []}
    stack: list[Node] = [doc]
    for token in _MD.parse(text or ""):
        _consume(token, stack)
    return doc


def _consume(token: Token, stack: list[Node]) -> None:
    kind = token.type
    parent = stack[-1]
    if kind in _BLOCK_OPEN:
        node = _open_node(_BLOCK_OPEN[kind], token, parent)
        parent["content"].append(node)
        stack.append(node)
    elif kind.endswith("_close") and kind not in ("thead_close", "tbody_close"):
        if len(stack) > 1:
            stack.pop()
    elif kind == "inline":
        inline = _inline_nodes(token.children or [])
        if parent["type"] in ("tableHeader", "tableCell"):
            parent["content"].append({"type": "paragraph", "content": inline})
        else:
            parent["content"].extend(inline)
    elif kind in ("fence", "code_block"):
        code = token.content[:-1] if token.content.endswith("\n") else token.content
        block: Node = {"type": "codeBlock", "attrs": {}, "content": []}
        language = token.info.strip().split(" ")[0] if token.info else ""
        if language:
            block["attrs"]["language"] = language
        if code:
            block["content"].append({"type": "text", "text": code})
        parent["content"].append(block)
    elif kind == "hr":
        parent["content"].append({"type": "rule"})
    elif kind == "html_block" and token.content.strip():
        parent["content"].append(
            {"type": "paragraph", "content": [{"type": "text", "text": token.content.strip()}]}
        )


def _open_node(kind: str, token: Token, parent: Node) -> Node:
    if kind == "heading" and parent["type"] in _NO_HEADINGS_IN:
        kind = "paragraph"  # ADF allows headings only at top level (and in panels/expands)
    node: Node = {"type": kind, "content": []}
    if kind == "heading":
        node["attrs"] = {"level": int(token.tag[1:])}
    elif kind == "orderedList":
        start = token.attrs.get("start")
        node["attrs"] = {"order": int(start) if start is not None else 1}
    elif kind in ("tableHeader", "tableCell"):
        node["attrs"] = {}
    elif kind == "table":
        node["attrs"] = {"isNumberColumnEnabled": False, "layout": "default"}
    return node


def _inline_nodes(children: list[Token]) -> list[Node]:
    out: list[Node] = []
    marks: list[Node] = []
    for tok in children:
        kind = tok.type
        if kind in ("strong_open", "em_open", "s_open"):
            marks.append({"type": {"strong_open": "strong", "em_open": "em", "s_open": "strike"}[kind]})
        elif kind == "link_open":
            marks.append({"type": "link", "attrs": {"href": str(tok.attrs.get("href", ""))}})
        elif kind in ("strong_close", "em_close", "s_close", "link_close"):
            if marks:
                marks.pop()
        elif kind in ("text", "html_inline"):
            _append_text(out, tok.content, marks)
        elif kind == "code_inline":
            code_marks = [m for m in marks if m["type"] == "link"] + [{"type": "code"}]
            _append_text(out, tok.content, code_marks)
        elif kind in ("softbreak", "hardbreak"):
            out.append({"type": "hardBreak"})
        elif kind == "image":
            alt = tok.content or str(tok.attrs.get("src", ""))
            link = {"type": "link", "attrs": {"href": str(tok.attrs.get("src", ""))}}
            _append_text(out, alt, [*marks, link])
    return out


def _append_text(out: list[Node], text: str, marks: list[Node]) -> None:
    if not text:
        return
    ordered = sorted(marks, key=lambda m: _MARK_ORDER.index(m["type"]))
    last = out[-1] if out else None
    if last and last.get("type") == "text" and last.get("marks", []) == ordered:
        last["text"] += text
        return
    node: Node = {"type": "text", "text": text}
    if ordered:
        node["marks"] = [dict(m) for m in ordered]
    out.append(node)
