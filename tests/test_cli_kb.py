"""`deskhand kb add` (issue 15, findings 3 and 5): named sources never silently replaced, removals
previewed and confirmed, junk files listed, embedding done at ingest (not at the first search)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from deskhand.cli import app
from deskhand.cli import checks as checks_module
from deskhand.demo.scenario import KB_DIR
from deskhand.settings import Settings

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DESKHAND_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("DESKHAND_SECRET_KEY", Fernet.generate_key().decode())
    return tmp_path


def folder(root: Path, *names: str) -> Path:
    root.mkdir(parents=True)
    for name in names:
        (root / name).write_text((KB_DIR / name).read_text())
    return root


def add(*argv: str) -> object:
    return runner.invoke(app, ["kb", "add", *argv])


def articles() -> list[str]:
    return [a["source_id"] for a in json.loads(runner.invoke(app, ["kb", "list", "--json"]).stdout)["articles"]]


def test_another_folder_with_the_same_name_is_refused_not_replaced(env: Path) -> None:
    first = folder(env / "team-a" / "kb", "invoices.md", "refunds-and-double-charges.md")
    second = folder(env / "team-b" / "kb", "reset-password.md")
    assert add(str(first)).exit_code == 0
    refused = add(str(second), "--yes")
    assert refused.exit_code == 2 and "already holds" in refused.output and "--source" in refused.output
    assert articles() == ["kb/invoices.md", "kb/refunds-and-double-charges.md"]
    own = add(str(second), "--source", "team-b")
    assert own.exit_code == 0, own.output
    assert articles() == ["kb/invoices.md", "kb/refunds-and-double-charges.md", "team-b/reset-password.md"]
    sources = json.loads(runner.invoke(app, ["kb", "sources", "--json"]).stdout)["sources"]
    assert [(s["name"], s["articles"]) for s in sources] == [("kb", 2), ("team-b", 1)]


def test_removals_are_previewed_and_need_confirmation(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kb = folder(env / "kb", "invoices.md", "reset-password.md")
    assert add(str(kb)).exit_code == 0
    (kb / "reset-password.md").unlink()
    refused = add(str(kb))
    assert refused.exit_code == 2
    assert "1 article(s) will be removed" in refused.output and "kb/reset-password.md" in refused.output
    assert "add --yes" in refused.output and articles() == ["kb/invoices.md", "kb/reset-password.md"]
    monkeypatch.setattr(checks_module, "interactive", lambda: True)
    assert runner.invoke(app, ["kb", "add", str(kb)], input="n\n").exit_code == 2
    assert articles() == ["kb/invoices.md", "kb/reset-password.md"]
    done = runner.invoke(app, ["kb", "add", str(kb)], input="y\n")
    assert done.exit_code == 0 and "1 removed" in done.output
    assert articles() == ["kb/invoices.md"]


def test_taking_over_a_source_from_another_folder_is_explicit_and_previewed(env: Path) -> None:
    old = folder(env / "old" / "docs", "invoices.md")
    new = folder(env / "new" / "docs", "reset-password.md")
    assert add(str(old)).exit_code == 0
    r = add(str(new), "--source", "docs", "--yes")
    assert r.exit_code == 0 and f"it held {old.resolve()}" in r.output
    assert articles() == ["docs/reset-password.md"]


@pytest.mark.parametrize("name", ["Bad Name", "tickets", "help_center", "a/b"],
                         ids=["spaces", "reserved-tickets", "reserved-help-centre", "slash"])
def test_an_unusable_source_name_is_refused(env: Path, name: str) -> None:
    r = add(str(folder(env / "kb", "invoices.md")), "--source", name)
    assert r.exit_code == 2 and "is not usable" in r.output and articles() == []


def test_junk_files_are_listed_skipped_and_counted(env: Path) -> None:
    kb = folder(env / "kb", "invoices.md")
    (kb / "tool.txt").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(100))
    (kb / "empty.md").write_bytes(b"")
    (kb / "big.md").write_text("# Big\n\n" + "words " * 200_000)
    (kb / "erstattung.md").write_bytes("# Rückerstattung\n\nDie Rückerstattung dauert fünf Tage.\n".encode("latin-1"))
    r = add(str(kb), "--max-file-mb", "1")
    assert r.exit_code == 0, r.output
    assert "2 added" in r.output and "3 skipped" in r.output
    assert "skipped tool.txt: binary: an ELF executable" in r.output and "skipped empty.md: empty file" in r.output
    assert "skipped big.md: 1.2 MB is more than the 1 MB" in r.output
    found = json.loads(runner.invoke(app, ["kb", "search", "Rückerstattung", "--json"]).stdout)["results"]
    assert found[0]["title"] == "Rückerstattung"


def test_kb_add_embeds_at_ingest_so_the_first_search_embeds_nothing(env: Path, monkeypatch) -> None:
    from deskhand.ai import embed as embed_module
    from deskhand.index.tenants import index_path, open_vectors

    kb = folder(env / "kb", "invoices.md", "reset-password.md", "export-data.md")
    r = add(str(kb), "--json")
    report = json.loads(r.stdout)
    assert report["index"]["embedded"] > 0 and report["index"]["reused"] == 0
    path = index_path(Settings.from_env(), "default")
    assert path is not None and len(open_vectors(path, 384).keys()) == report["index"]["embedded"]
    embedded: list[int] = []
    real = embed_module.OnnxMiniLM.embed
    monkeypatch.setattr(embed_module.OnnxMiniLM, "embed", lambda self, texts: embedded.append(len(texts))
                        or real(self, texts))
    found = json.loads(runner.invoke(app, ["kb", "search", "where are my invoices", "--json"]).stdout)["results"]
    assert found[0]["title"] == "Download invoices and receipts"
    assert sum(embedded) <= 1  # the query only: the knowledge was embedded by `kb add`
    again = json.loads(add(str(kb), "--json").stdout)
    assert again["index"]["embedded"] == 0 and again["index"]["reused"] == report["index"]["embedded"]


def test_kb_pull_also_embeds_at_ingest(env: Path) -> None:
    from deskhand.sim import zendesk
    from deskhand.sim.zendesk_help_center import help_center

    server = zendesk.start()
    try:
        hc = help_center(server.state)
        section = hc.add_section(hc.add_category("Billing")["id"], "Payments")
        hc.add_article(section["id"], "Refund timelines", "<p>Refunds reach your card in <b>5 days</b>.</p>")
        connected = runner.invoke(app, ["connect", "zendesk", "--name", "acme", "--subdomain", "acme", "--email",
                                        "bot@acme.test", "--api-token", "deskhand-sim-token", "--webhook-secret", "s",
                                        "--base-url", server.url])
        assert connected.exit_code == 0, connected.output
        pulled = json.loads(runner.invoke(app, ["kb", "pull", "acme", "--json"]).stdout)
    finally:
        server.stop()
    assert len(pulled["added"]) == 1 and pulled["index"]["embedded"] > 0
