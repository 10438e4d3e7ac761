"""The Jira simulator's own renderings of Atlassian Document Format (ADF), written from Atlassian's
documentation, independent of deskhand's converter (deskhand.providers.hooks.jira_adf): a bug in one
must show up against the other, not hide in a shared function.

Jira Cloud keeps bodies as ADF and shows them three ways, which the simulator mimics:

- REST v2 and webhooks: wiki markup (:func:`adf_to_wiki`): ``h1.``, ``*strong*``, ``_em_``,
  ``-strike-``, ``{{code}}``, ``[text|url]``, ``*``/``#`` lists nested by repetition, ``{code:lang}``,
  ``bq.``, ``----``, ``[~accountid:…]`` mentions;
- JSM request comments and JQL text search: plain text (:func:`adf_to_text`);
- REST v2 / JSM bodies sent as strings are wiki markup turned into ADF (:func:`wiki_to_adf`);
  :func:`text_to_adf` makes plain text a document (paragraphs on blank lines, hard breaks inside).
"""

from __future__ import annotations

import re
from typing import Any

Node = dict[str, Any]

_WIKI_MARK = {"strong": "*", "em": "_", "strike": "-", "code": "{{"}
_WIKI_CLOSE = {"code": "}}"}


def _kids(node: Any) -> list[Any]:
    content = node.get("content") if isinstance(node, dict) else None
    return content if isinstance(content, list) else []


def _attr(node: Node, name: str, default: Any = "") -> Any:
    attrs = node.get("attrs")
    return attrs.get(name, default) if isinstance(attrs, dict) else default


# ------------------------------------------------------------------------------------ ADF -> plain text


def adf_to_text(doc: Any) -> str:
    """The readable text of a document: blocks separated by a blank line, list items one a line."""
    if doc is None:
        return ""
    if isinstance(doc, str):
        return doc
    if not isinstance(doc, dict):
        return str(doc)
    if doc.get("type") == "doc":
        return "\n\n".join(b for b in (_text_block(n) for n in _kids(doc)) if b).strip()
    return _text_block(doc).strip()


def _text_block(node: Any, depth: int = 0) -> str:
    if not isinstance(node, dict):
        return ""
    kind = node.get("type")
    if kind in ("bulletList", "orderedList"):
        lines = []
        for n, item in enumerate(_kids(node), start=int(_attr(node, "order", 1) or 1)):
            marker = f"{n}." if kind == "orderedList" else "-"
            parts = [_text_block(child, depth + 1) for child in _kids(item)]
            first, *rest = [p for p in parts if p] or [""]
            lines.append("   " * depth + f"{marker} {first}")
            lines.extend(rest)
        return "\n".join(lines)
    if kind == "codeBlock":
        return "```" + str(_attr(node, "language", "") or "") + "\n" + _text_inline(_kids(node)) + "\n```"
    if kind == "heading":
        return "#" * int(_attr(node, "level", 1) or 1) + " " + _text_inline(_kids(node))
    if kind == "blockquote":
        return "\n".join("> " + line for b in _kids(node) for line in _text_block(b).split("\n"))
    if kind == "rule":
        return "---"
    if kind in ("paragraph",) or not any(isinstance(k, dict) and k.get("content") for k in _kids(node)):
        return _text_inline(_kids(node)) if kind != "text" else _inline_text(node)
    return "\n\n".join(b for b in (_text_block(k, depth) for k in _kids(node)) if b)


def _text_inline(nodes: list[Any]) -> str:
    return "".join(_inline_text(n) for n in nodes if isinstance(n, dict))


def _inline_text(node: Node) -> str:
    kind = node.get("type")
    if kind == "text":
        return str(node.get("text", ""))
    if kind == "hardBreak":
        return "\n"
    if kind == "mention":
        text = str(_attr(node, "text", "") or _attr(node, "id", ""))
        return text if text.startswith("@") else "@" + text
    if kind == "emoji":
        return str(_attr(node, "text", "") or _attr(node, "shortName", ""))
    if kind in ("inlineCard", "blockCard"):
        return str(_attr(node, "url", ""))
    if kind == "status":
        return str(_attr(node, "text", ""))
    return _text_inline(_kids(node))


# ------------------------------------------------------------------------------------ ADF -> wiki markup


def adf_to_wiki(doc: Any) -> str:
    """A document as Jira wiki markup (REST v2, webhooks)."""
    if not isinstance(doc, dict):
        return "" if doc is None else str(doc)
    blocks = _kids(doc) if doc.get("type") == "doc" else [doc]
    return "\n\n".join(w for w in (_wiki_block(b) for b in blocks) if w).strip()


def _wiki_block(node: Any, prefix: str = "") -> str:
    if not isinstance(node, dict):
        return ""
    kind = node.get("type")
    if kind == "paragraph":
        return _wiki_inline(_kids(node))
    if kind == "heading":
        return f"h{int(_attr(node, 'level', 1) or 1)}. " + _wiki_inline(_kids(node))
    if kind in ("bulletList", "orderedList"):
        mark = prefix + ("#" if kind == "orderedList" else "*")
        lines = []
        for item in _kids(node):
            for child in _kids(item):
                if isinstance(child, dict) and child.get("type") in ("bulletList", "orderedList"):
                    lines.append(_wiki_block(child, mark))
                else:
                    lines.append(f"{mark} " + _wiki_block(child))
        return "\n".join(lines)
    if kind == "codeBlock":
        lang = _attr(node, "language", "")
        return ("{code:" + lang + "}" if lang else "{code}") + "\n" + _text_inline(_kids(node)) + "\n{code}"
    if kind == "blockquote":
        return "{quote}\n" + "\n".join(_wiki_block(b) for b in _kids(node)) + "\n{quote}"
    if kind == "rule":
        return "----"
    return _wiki_inline(_kids(node)) if kind != "text" else _wiki_text(node)


def _wiki_inline(nodes: list[Any]) -> str:
    return "".join(_wiki_text(n) for n in nodes if isinstance(n, dict))


def _wiki_text(node: Node) -> str:
    if node.get("type") == "mention":
        return f"[~accountid:{_attr(node, 'id')}]"
    if node.get("type") != "text":
        return _inline_text(node)
    text = str(node.get("text", ""))
    link = None
    for mark in node.get("marks") or []:
        kind = mark.get("type") if isinstance(mark, dict) else None
        if kind == "link":
            link = _attr(mark, "href")
        elif kind in _WIKI_MARK:
            text = _WIKI_MARK[kind] + text + _WIKI_CLOSE.get(kind, _WIKI_MARK[kind])
    return f"[{text}|{link}]" if link else text


# ------------------------------------------------------------------------------------ text / wiki -> ADF


def _paragraph(lines: list[str], inline: Any) -> Node:
    content: list[Node] = []
    for n, line in enumerate(lines):
        if n:
            content.append({"type": "hardBreak"})
        content.extend(inline(line))
    return {"type": "paragraph", "content": content}


def _plain(line: str) -> list[Node]:
    return [{"type": "text", "text": line}] if line else []


def text_to_adf(text: str) -> Node:
    """Plain text as a document: a paragraph per blank-line-separated block, line breaks kept."""
    blocks = re.split(r"\n\s*\n", (text or "").replace("\r\n", "\n").strip())
    return {"type": "doc", "version": 1,
            "content": [_paragraph(b.split("\n"), _plain) for b in blocks if b.strip()]}


_INLINE = re.compile(r"\[([^|\]]+)\|([^\]]+)\]|\{\{(.+?)\}\}|(?<![\w*])\*(\S(?:.*?\S)?)\*(?![\w*])"
                     r"|(?<![\w_])_(\S(?:.*?\S)?)_(?![\w_])|(?<![\w-])-(\S(?:.*?\S)?)-(?![\w-])")


def _wiki_inline_nodes(line: str) -> list[Node]:
    out: list[Node] = []
    at = 0
    for m in _INLINE.finditer(line):
        out.extend(_plain(line[at:m.start()]))
        link, url, code, strong, em, strike = m.groups()
        if link:
            out.append({"type": "text", "text": link, "marks": [{"type": "link", "attrs": {"href": url}}]})
        else:
            kind = "code" if code else "strong" if strong else "em" if em else "strike"
            out.append({"type": "text", "text": code or strong or em or strike, "marks": [{"type": kind}]})
        at = m.end()
    out.extend(_plain(line[at:]))
    return out


def wiki_to_adf(wiki: str) -> Node:
    """Wiki markup (a REST v2 or JSM string body) as a document, the common subset."""
    content: list[Node] = []
    para: list[str] = []
    lines = (wiki or "").replace("\r\n", "\n").split("\n")

    def flush() -> None:
        if para:
            content.append(_paragraph(para, _wiki_inline_nodes))
            para.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        code = re.match(r"^\{(code|noformat)(?::([^}|]*))?[^}]*\}\s*$", line.strip())
        heading = re.match(r"^h([1-6])\.\s+(.*)$", line)
        item = re.match(r"^([*#]+)\s+(.*)$", line)
        if code:
            flush()
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "{" + code.group(1) + "}"),
                       len(lines))
            node: Node = {"type": "codeBlock", "content": _plain("\n".join(lines[i + 1:end]))}
            if code.group(2):
                node["attrs"] = {"language": code.group(2)}
            content.append(node)
            i = end + 1
            continue
        if not line.strip():
            flush()
        elif heading:
            flush()
            content.append({"type": "heading", "attrs": {"level": int(heading.group(1))},
                            "content": _wiki_inline_nodes(heading.group(2))})
        elif item:
            flush()
            j = i
            while j < len(lines) and re.match(r"^[*#]+\s+", lines[j]):
                j += 1
            content.append(_wiki_list(lines[i:j]))
            i = j
            continue
        elif line.strip() == "----":
            flush()
            content.append({"type": "rule"})
        elif line.startswith("bq. "):
            flush()
            content.append({"type": "blockquote", "content": [_paragraph([line[4:]], _wiki_inline_nodes)]})
        else:
            para.append(line)
        i += 1
    flush()
    return {"type": "doc", "version": 1, "content": content}


def _wiki_list(lines: list[str]) -> Node:
    """Consecutive ``*``/``#`` lines as a (nested) list, depth by the marker's length."""
    first = re.match(r"^([*#]+)", lines[0])
    assert first
    depth = len(first.group(1))
    root: Node = {"type": "orderedList" if first.group(1)[-1] == "#" else "bulletList", "content": []}
    n = 0
    while n < len(lines):
        m = re.match(r"^([*#]+)\s+(.*)$", lines[n])
        assert m
        if len(m.group(1)) > depth and root["content"]:
            end = n
            while end < len(lines) and len(re.match(r"^([*#]+)", lines[end]).group(1)) > depth:  # type: ignore[union-attr]
                end += 1
            root["content"][-1]["content"].append(_wiki_list(lines[n:end]))
            n = end
            continue
        root["content"].append({"type": "listItem",
                                "content": [_paragraph([m.group(2)], _wiki_inline_nodes)]})
        n += 1
    return root
