"""Knowledge files: junk refused with a reason, encodings detected (issue 15, finding 5)."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from deskhand.knowledge_files import Refused, decode, read_file, read_folder

GERMAN = "# Rückerstattung\n\nDie Rückerstattung dauert fünf Werktage. Grüße, Ihr Team — 5 €\n"
LATIN1 = "# Rückerstattung\n\nDie Rückerstattung dauert fünf Werktage. Grüße, Ihr Team.\n"


@pytest.mark.parametrize(
    ("data", "text", "encoding"),
    [
        (GERMAN.encode("utf-8"), GERMAN, "utf-8"),
        (codecs.BOM_UTF8 + GERMAN.encode("utf-8"), GERMAN, "utf-8-sig"),
        (codecs.BOM_UTF16_LE + GERMAN.encode("utf-16-le"), GERMAN, "utf-16"),
        (codecs.BOM_UTF16_BE + GERMAN.encode("utf-16-be"), GERMAN, "utf-16"),
        (LATIN1.encode("latin-1"), LATIN1, "cp1252"),
        (GERMAN.encode("cp1252"), GERMAN, "cp1252"),
        ("El reembolso tarda cinco días hábiles. España, año".encode("cp1252"),
         "El reembolso tarda cinco días hábiles. España, año", "cp1252"),
        ("Возврат средств занимает пять рабочих дней. Спасибо за обращение.".encode("cp1251"),
         "Возврат средств занимает пять рабочих дней. Спасибо за обращение.", "cp1251"),
    ],
    ids=["utf8", "utf8-bom", "utf16-le-bom", "utf16-be-bom", "latin1", "cp1252-euro", "spanish-cp1252",
         "russian-cp1251"],
)
def test_text_is_decoded_in_its_own_encoding(data: bytes, text: str, encoding: str) -> None:
    assert decode(data) == (text, encoding)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4, "binary: an ELF executable"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "binary: a PDF"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary: a PNG image"),
        (b"hello\x00world" * 10, "binary: contains NUL bytes"),
        (bytes(range(1, 32)) * 20, "undecodable"),
    ],
    ids=["elf", "pdf", "png", "nul-bytes", "control-characters"],
)
def test_junk_is_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(Refused, match=reason):
        decode(data)


def test_a_folder_reads_articles_and_lists_every_file_it_skipped(tmp_path: Path) -> None:
    (tmp_path / "refunds.md").write_bytes(LATIN1.encode("latin-1"))
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "blank.md").write_text("   \n\n")
    (tmp_path / "tool.txt").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(200))
    (tmp_path / "huge.md").write_text("# Huge\n\n" + "word " * 300_000)
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n")
    (tmp_path / ".hidden.md").write_text("# hidden")
    articles, skipped = read_folder(tmp_path, max_bytes=1_000_000)
    assert [(a.source_id, a.title) for a in articles] == [("refunds.md", "Rückerstattung")]
    assert "Rückerstattung" in articles[0].text and "\ufffd" not in articles[0].text
    reasons = {s.path: s.reason for s in skipped}
    assert sorted(reasons) == ["blank.md", "empty.md", "huge.md", "logo.png", "tool.txt"]
    assert reasons["empty.md"] == "empty file" and reasons["tool.txt"] == "binary: an ELF executable"
    assert reasons["huge.md"].startswith("1.5 MB is more than the 1 MB") and "--max-file-mb" in reasons["huge.md"]
    assert reasons["blank.md"].startswith("no text") and reasons["logo.png"].startswith("not a knowledge file")


def test_windows_line_endings_are_normalised(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_bytes(b"# Title\r\n\r\nBody line\r\n")
    assert read_file(tmp_path / "a.md", "a.md").text == "# Title\n\nBody line"
