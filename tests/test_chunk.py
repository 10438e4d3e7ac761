"""Reading a knowledge folder and chunking articles by structure."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from deskhand.ai.chunk import Article, chunk_article, count_tokens, html_to_markdown, load_folder

KB = Path(__file__).parent / "data" / "kb"


def test_load_folder_reads_markdown_text_and_html_with_relative_ids() -> None:
    articles = {a.source_id: a for a in load_folder(KB)}
    assert set(articles) == {
        "account/reset-password.md", "account/two-factor-authentication.md",
        "billing/change-plan.md", "billing/refunds-and-invoices.md", "data-export.md",
        "developers/api-rate-limits.html", "developers/webhooks.md", "service-status.txt",
    }
    assert {a.format for a in articles.values()} == {"markdown", "text", "html"}


@pytest.mark.parametrize(
    ("source_id", "title"),
    [
        ("account/reset-password.md", "Resetting your password"),
        ("developers/api-rate-limits.html", "API rate limits"),
        ("service-status.txt", "Service status"),
    ],
    ids=["markdown-heading", "html-title", "text-file-name"],
)
def test_title_is_first_heading_or_html_title_or_file_name(source_id: str, title: str) -> None:
    assert {a.source_id: a.title for a in load_folder(KB)}[source_id] == title


def test_hidden_files_and_other_suffixes_are_ignored(tmp_path: Path) -> None:
    (tmp_path / ".drafts").mkdir()
    (tmp_path / ".drafts" / "secret.md").write_text("# Draft")
    (tmp_path / "logo.png").write_bytes(b"\x89PNG")
    (tmp_path / "ok.md").write_text("# Ok\n\nfine")
    assert [a.source_id for a in load_folder(tmp_path)] == ["ok.md"]


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="knowledge folder"):
        load_folder(tmp_path / "nope")


def test_html_becomes_markdown_without_navigation_scripts_or_styles() -> None:
    text, title = html_to_markdown(
        "<html><head><title>T</title><style>p{}</style></head><body><nav>Menu</nav><h2>Steps</h2>"
        "<ol><li>One</li><li>Two</li></ol><pre>x = 1\n  y = 2</pre><script>alert(1)</script></body></html>"
    )
    assert title == "T"
    assert "## Steps" in text and "1. One" in text and "1. Two" in text
    assert "```\nx = 1\n  y = 2\n```" in text
    assert "Menu" not in text and "alert" not in text and "p{}" not in text


def test_small_articles_are_one_chunk_with_ids_and_hashes() -> None:
    for article in load_folder(KB):
        chunks = chunk_article(article)
        assert len(chunks) == 1, article.source_id
        assert chunks[0].id == f"{article.source_id}#0"
        assert len(chunks[0].hash) == 16


def _long_article() -> Article:
    sections = []
    for n in range(1, 7):
        para = " ".join(f"Sentence {i} of section {n} explains one more detail." for i in range(25))
        sections.append(f"## Section {n}\n\n{para}")
    code = "```python\n" + "\n".join(f"print({i})  # step {i}" for i in range(120)) + "\n```"
    steps = "\n".join(f"- step {i}: do the thing number {i}" for i in range(10))
    text = "# Guide\n\nIntro text.\n\n" + "\n\n".join(sections[:3]) + f"\n\n### Code\n\n{code}\n\n{steps}\n\n"
    return Article("guide.md", "Guide", text + "\n\n".join(sections[3:]), "markdown")


def test_long_articles_are_cut_near_the_target_and_under_the_limit() -> None:
    chunks = chunk_article(_long_article(), target=450, limit=600)
    assert len(chunks) >= 4
    code_chunk = next(c for c in chunks if "```python" in c.text)
    for chunk in chunks:
        if chunk is not code_chunk:
            assert count_tokens(chunk.text) <= 600, chunk.id
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_code_blocks_and_lists_are_never_split() -> None:
    chunks = chunk_article(_long_article(), target=100, limit=150)
    code = [c for c in chunks if "print(" in c.text]
    assert len(code) == 1 and "print(0)" in code[0].text and "print(119)" in code[0].text
    assert code[0].text.count("```") == 2
    lists = [c for c in chunks if "- step" in c.text]
    assert all("- step 0:" in c.text and "- step 9:" in c.text for c in lists)


def test_chunks_know_their_heading_path_and_start_with_their_heading() -> None:
    chunks = chunk_article(_long_article(), target=100, limit=150)
    code = next(c for c in chunks if "print(" in c.text)
    assert code.heading_path == ("Guide", "Section 3", "Code")
    for chunk in chunks:
        assert not chunk.text.rstrip().splitlines()[-1].startswith("#"), "a chunk ends on a heading"
    assert any(c.text.startswith("## Section 5") for c in chunks)


def test_size_cuts_overlap_by_a_small_block() -> None:
    article = Article("a.md", "A", "\n\n".join(f"Paragraph {i} " + "word " * 40 for i in range(6)), "markdown")
    chunks = chunk_article(article, target=80, limit=100)
    assert len(chunks) >= 3
    for first, second in itertools.pairwise(chunks):
        assert first.text.split("\n\n")[-1] == second.text.split("\n\n")[0]


def test_long_paragraphs_are_cut_at_sentence_ends() -> None:
    article = Article("p.md", "P", " ".join(f"This is sentence {i}." for i in range(200)), "text")
    chunks = chunk_article(article, target=100, limit=120)
    assert len(chunks) > 3
    assert all(c.text.endswith(".") for c in chunks)


def test_same_text_same_hash_changed_text_new_hash() -> None:
    a = chunk_article(Article("x.md", "X", "# X\n\nHello there.", "markdown"))[0]
    b = chunk_article(Article("y.md", "Y", "# X\n\nHello there.", "markdown"))[0]
    c = chunk_article(Article("x.md", "X", "# X\n\nHello there!", "markdown"))[0]
    assert a.hash == b.hash != c.hash


def test_empty_article_gives_no_chunks() -> None:
    assert chunk_article(Article("e.md", "E", "", "markdown")) == []
