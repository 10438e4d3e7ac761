"""Jira wiki markup (REST v2 string bodies) <-> markdown-ish text, minimal.

REST v2 takes and returns description/comment bodies as wiki-markup strings. deskhand only needs the
common subset: headings (`h1.`), `*bold*`, `_italic_`, `-strike-`, `{{mono}}`, `[text|url]`, `*`/`#`
lists (nested by repetition), `{code:lang}`/`{noformat}`, `bq.`/`{quote}` and `----`. Text goes to
wiki through the ADF tree (`text_to_adf`) so both renderers share one parser.
"""

from __future__ import annotations

import re
from typing import Any

from deskhand.providers.hooks.jira_adf import Node, adf_to_text, text_to_adf

_WIKI_MARKS = {"strong": "*", "em": "_", "strike": "-"}


def text_to_wiki(text: str) -> str:
    """Markdown-ish text -> wiki markup."""
    return adf_to_wiki(text_to_adf(text))


def adf_to_wiki(doc: Node) -> str:
    """Render an ADF document as wiki markup (the common subset; other nodes as their text)."""
    out: list[str] = []
    for node in doc.get("content", []) if isinstance(doc, dict) else []:
        kind = node.get("type")
        if kind == "paragraph":
            out.append(_inline(node.get("content", [])))
        elif kind == "heading":
            out.append(f"h{node.get('attrs', {}).get('level', 1)}. {_inline(node.get('content', []))}")
        elif kind in ("bulletList", "orderedList"):
            out.append("\n".join(_list(node, "")))
        elif kind == "codeBlock":
            code = "".join(c.get("text", "") for c in node.get("content", []))
            lang = node.get("attrs", {}).get("language")
            out.append(f"{{code:{lang}}}\n{code}\n{{code}}" if lang else f"{{code}}\n{code}\n{{code}}")
        elif kind == "blockquote":
            out.append("{quote}\n" + adf_to_wiki({"content": node.get("content", [])}) + "\n{quote}")
        elif kind == "rule":
            out.append("----")
        else:
            out.append(adf_to_text(node))
    return "\n\n".join(p for p in out if p)


def _list(node: Node, prefix: str) -> list[str]:
    marker = prefix + ("#" if node.get("type") == "orderedList" else "*")
    lines: list[str] = []
    for item in node.get("content", []):
        first = True
        for child in item.get("content", []):
            if child.get("type") in ("bulletList", "orderedList"):
                lines.extend(_list(child, marker))
            elif first:
                lines.append(f"{marker} {_inline(child.get('content', []))}")
                first = False
            else:
                lines[-1] += "\\\\" + _inline(child.get("content", []))
    return lines


def _inline(nodes: list[Any]) -> str:
    parts: list[str] = []
    for node in nodes:
        if node.get("type") == "hardBreak":
            parts.append("\n")
            continue
        if node.get("type") != "text":
            parts.append(adf_to_text(node))
            continue
        text = node.get("text", "")
        marks = {m.get("type"): m for m in node.get("marks", [])}
        if "code" in marks:
            text = "{{" + text + "}}"
        for kind, wrap in _WIKI_MARKS.items():
            if kind in marks:
                text = f"{wrap}{text}{wrap}"
        if "link" in marks:
            text = f"[{text}|{marks['link'].get('attrs', {}).get('href', '')}]"
        parts.append(text)
    return "".join(parts)


_BLOCK_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^h([1-6])\.\s+(.*)$"), "heading"),
    (re.compile(r"^bq\.\s+(.*)$"), "quote"),
    (re.compile(r"^([*#]+)\s+(.*)$"), "list"),
    (re.compile(r"^-{4,}\s*$"), "rule"),
]
_INLINE_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\{\{(.+?)\}\}"), r"`\1`"),
    (re.compile(r"\[([^\]|]+)\|([^\]]+)\]"), r"[\1](\2)"),
    (re.compile(r"(?<![\w*])\*(\S(?:[^*]*\S)?)\*(?![\w*])"), r"**\1**"),
    (re.compile(r"(?<![\w_])_(\S(?:[^_]*\S)?)_(?![\w_])"), r"*\1*"),
    (re.compile(r"(?<![\w-])-(\S(?:[^-]*\S)?)-(?![\w-])"), r"~~\1~~"),
]


def wiki_to_text(wiki: str) -> str:
    """Wiki markup -> markdown-ish text (the common subset; the rest passes through)."""
    out: list[str] = []
    in_code: str | None = None
    for line in (wiki or "").replace("\r\n", "\n").split("\n"):
        code = re.match(r"^\{(code|noformat)(?::([^}|]*))?[^}]*\}\s*$", line.strip())
        if code and in_code is None:
            in_code = code.group(1)
            out.append("```" + (code.group(2) or ""))
            continue
        if in_code is not None:
            if line.strip() == "{" + in_code + "}":
                in_code = None
                out.append("```")
            else:
                out.append(line)
            continue
        if line.strip() == "{quote}":
            out.append("")
            continue
        out.append(_wiki_line(line))
    return "\n".join(out).strip("\n")


def _wiki_line(line: str) -> str:
    for pattern, kind in _BLOCK_RULES:
        match = pattern.match(line)
        if not match:
            continue
        if kind == "heading":
            return "#" * int(match.group(1)) + " " + _wiki_inline(match.group(2))
        if kind == "quote":
            return "> " + _wiki_inline(match.group(1))
        if kind == "list":
            depth = len(match.group(1))
            marker = "1." if match.group(1)[-1] == "#" else "-"
            return "   " * (depth - 1) + f"{marker} " + _wiki_inline(match.group(2))
        return "---"
    return _wiki_inline(line)


def _wiki_inline(text: str) -> str:
    for pattern, replacement in _INLINE_RULES:
        text = pattern.sub(replacement, text)
    return text
