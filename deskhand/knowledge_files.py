"""Reading a folder of knowledge files: text decoded right, junk refused with a reason.

Each candidate file is either read as an article or skipped with a reason a person can act on:
binary content (NUL bytes or a known binary signature), empty, too large, or bytes that do not read
as text. Decoding, in order:

1. a byte-order mark says UTF-8, UTF-16 or UTF-32;
2. strict UTF-8 (what nearly every editor writes);
3. otherwise a legacy single-byte file. Windows-1252 (a superset of Latin-1's letters, so
   "Rückerstattung" and "€" read right) unless charset-normalizer — when installed — finds the bytes
   are clearly another script (Cyrillic, Greek, Arabic, CJK …) in its encoding. Its guesses among
   Latin encodings are not used: measured on short German/French/Spanish texts it prefers cp1250,
   which turns "España" into "Espańa".

A decoded text with more than ``MAX_CONTROL_SHARE`` control characters is refused as undecodable.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

from deskhand.ai.chunk import SUFFIXES, Article, read_article

MAX_FILE_BYTES = 2_000_000  # a knowledge article above this is almost surely an export or a dump
MAX_CONTROL_SHARE = 0.01
SIGNATURES = {
    b"\x7fELF": "an ELF executable",
    b"%PDF-": "a PDF (export it to text or markdown first)",
    b"PK\x03\x04": "a ZIP archive (or an Office document)",
    b"\x89PNG": "a PNG image",
    b"GIF8": "a GIF image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\x1f\x8b": "a gzip archive",
    b"MZ": "a Windows executable",
}
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
LATIN_ALPHABETS = frozenset({
    "Basic Latin", "Latin-1 Supplement", "Latin Extended-A", "Latin Extended-B", "Latin Extended Additional",
    "General Punctuation", "Currency Symbols", "Letterlike Symbols", "Spacing Modifier Letters",
    "Control character",
})


class Refused(ValueError):
    """A file that is not knowledge; the message says why."""


@dataclass(frozen=True, slots=True)
class Skipped:
    path: str  # relative to the folder
    reason: str


def decode(data: bytes) -> tuple[str, str]:
    """``(text, encoding)`` of a file's bytes, or ``Refused`` saying why they are not text."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError as exc:
                raise Refused(f"starts with a {encoding} byte-order mark but is not {encoding}: {exc.reason}") from exc
    for magic, what in SIGNATURES.items():
        if data.startswith(magic):
            raise Refused(f"binary: {what}")
    if b"\x00" in data:
        raise Refused("binary: contains NUL bytes")
    try:
        text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = _legacy(data)
    controls = sum(1 for ch in text if (ord(ch) < 32 and ch not in "\t\n\r\f") or 0x7F <= ord(ch) < 0xA0)
    if text and controls / len(text) > MAX_CONTROL_SHARE:
        raise Refused(f"undecodable: {controls} control characters as {encoding}; save it as UTF-8")
    return text, encoding


def _legacy(data: bytes) -> tuple[str, str]:
    other = _other_script(data)
    if other is not None:
        return other
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:  # cp1252 leaves 5 bytes undefined: Latin-1 reads them (as C1 controls)
        return data.decode("latin-1"), "latin-1"


def _other_script(data: bytes) -> tuple[str, str] | None:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - optional: the cp1252 rule stands alone
        return None
    best = from_bytes(data).best()
    if best is None or set(best.alphabets) <= LATIN_ALPHABETS:
        return None
    return str(best), str(best.encoding)


def read_file(file: Path, source_id: str, *, max_bytes: int = MAX_FILE_BYTES) -> Article:
    """One knowledge file as an article, or ``Refused``."""
    size = file.stat().st_size
    if size == 0:
        raise Refused("empty file")
    if size > max_bytes:
        raise Refused(f"{size / 1e6:.1f} MB is more than the {max_bytes / 1e6:g} MB a knowledge file may have "
                      "(split it, or raise --max-file-mb)")
    text, _ = decode(file.read_bytes())
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    article = read_article(file, source_id, text=text)
    if not article.text.strip():
        raise Refused("no text (only whitespace or markup)")
    return article


def read_folder(root: Path, *, max_bytes: int = MAX_FILE_BYTES) -> tuple[list[Article], list[Skipped]]:
    """Every article under ``root`` (sorted by relative path) and every file skipped, with why.
    Hidden files and folders are passed over silently."""
    if not root.is_dir():
        raise FileNotFoundError(f"knowledge folder {root} does not exist or is not a folder")
    articles, skipped = [], []
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = file.relative_to(root).as_posix()
        if any(part.startswith(".") for part in file.relative_to(root).parts):
            continue
        if file.suffix.lower() not in SUFFIXES:
            skipped.append(Skipped(rel, f"not a knowledge file (takes {', '.join(sorted(SUFFIXES))})"))
            continue
        try:
            articles.append(read_file(file, rel, max_bytes=max_bytes))
        except Refused as exc:
            skipped.append(Skipped(rel, str(exc)))
        except OSError as exc:
            skipped.append(Skipped(rel, f"unreadable: {exc.strerror or exc}"))
    return articles, skipped
