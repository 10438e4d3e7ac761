"""Knowledge end to end: a folder added/changed/removed with the persisted index following (only new
texts embedded, nothing after a restart), tenant isolation, Help Center pull over loopback, resolved
tickets from the replica with personal data absent from every stored chunk."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from deskhand.ai import embed
from deskhand.index.tenants import embed_knowledge
from deskhand.knowledge import add_documents, add_folder, add_resolved_tickets, help_center_documents, replica_pairs
from deskhand.model import Comment, Contact, Role, Status, Team, Ticket, User, Visibility
from deskhand.providers import open_connector
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.sim.zendesk import start
from deskhand.sim.zendesk_help_center import help_center
from deskhand.store import Store


class Counting:
    """The real embedder, counting the texts it embeds."""

    def __init__(self, inner: embed.Embedder) -> None:
        self.inner, self.name, self.dim, self.texts = inner, inner.name, inner.dim, 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        return self.inner.embed(texts)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> Counting:
    wrapper = Counting(embed.default_embedder())
    monkeypatch.setattr(embed, "_default", wrapper)
    return wrapper


def open_runtime(tmp_path: Path) -> Runtime:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/deskhand.db", secret_key=None)
    return Runtime(Store.open(settings), settings)


def write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


REFUND = "# Refunds\n\nRefunds go back to the original card within 5 business days of approval."
PASSWORD = "# Reset your password\n\nUse 'Forgot password' on the sign-in page; the link is valid for one hour."


def test_folder_changes_reindex_only_what_changed_and_survive_a_restart(tmp_path: Path, counting: Counting) -> None:
    kb = tmp_path / "kb"
    write(kb, "refunds.md", REFUND)
    write(kb, "password.md", PASSWORD)
    rt = open_runtime(tmp_path)
    assert len(add_folder(rt.store, "acme", kb).added) == 2
    assert rt.retrieve("acme", "how long does a refund take")[0].id.startswith("kb/refunds.md")
    first = counting.texts
    assert first > 0 and list((tmp_path / "deskhand.index").glob("*.hnsw"))

    write(kb, "password.md", PASSWORD.replace("one hour", "thirty minutes"))
    report = add_folder(rt.store, "acme", kb)
    assert report.changed == ["kb/password.md"] and report.unchanged == ["kb/refunds.md"]
    assert embed_knowledge(rt.settings, rt.store, "acme").embedded == 1  # at ingest, as `kb add` does
    assert "thirty minutes" in rt.retrieve("acme", "password reset link expired")[0].text
    # ingest embedded the changed chunk and handed its vector over; the running process applies the change to
    # its own copy with it (never reloading the whole file) and embeds the query alone; the title vector was kept
    assert counting.texts - first == 2

    rt.close()
    again = open_runtime(tmp_path)  # restart: vectors come from the file beside the database
    before = counting.texts
    assert again.retrieve("acme", "refund to my card")[0].id.startswith("kb/refunds.md")
    assert counting.texts - before == 1  # the query alone

    (kb / "refunds.md").unlink()
    assert add_folder(again.store, "acme", kb).removed == ["kb/refunds.md"]
    assert all(not s.id.startswith("kb/refunds.md") for s in again.retrieve("acme", "refund to my card"))


def test_one_tenants_knowledge_is_never_returned_for_another(tmp_path: Path, counting: Counting) -> None:
    write(tmp_path / "a", "refunds.md", REFUND)
    write(tmp_path / "b", "password.md", PASSWORD)
    rt = open_runtime(tmp_path)
    add_folder(rt.store, "acme", tmp_path / "a")
    add_folder(rt.store, "globex", tmp_path / "b")
    for query in ("refund to my card", "reset password", "refunds password"):
        assert all(s.id.startswith("a/") for s in rt.retrieve("acme", query))
        assert all(s.id.startswith("b/") for s in rt.retrieve("globex", query))
    assert rt.retrieve("initech", "refund") == []


@pytest.fixture
def sim() -> Iterator[object]:
    server = start(token="t0ken", port=0, incremental_lag_s=0)
    yield server
    server.stop()


def test_help_center_articles_are_pulled_through_the_provider(tmp_path: Path, sim: object, counting: Counting) -> None:
    hc = help_center(sim.state)  # type: ignore[attr-defined]
    section = hc.add_section(hc.add_category("Billing")["id"], "Payments")
    art = hc.add_article(section["id"], "Refund timelines", "<p>Refunds reach your card in <b>5 days</b>.</p>")
    hc.add_article(section["id"], "Unpublished", "<p>secret draft</p>", draft=True)
    for i in range(3):  # more than one page
        hc.add_article(section["id"], f"Article {i}", f"<h2>Part {i}</h2><ul><li>step one</li></ul>")
    config = {"subdomain": "sim", "email": "admin@deskhand.test", "api_token": "t0ken", "base_url": sim.url}  # type: ignore[attr-defined]
    with open_connector("zendesk", "zd", config) as conn:
        docs = help_center_documents(conn)
    assert len(docs) == 4 and all("secret draft" not in d.text for d in docs)
    refund = next(d for d in docs if d.title == "Refund timelines")
    assert refund.source_id == f"help_center/zd/{art['id']}" and "5 days" in refund.text
    assert refund.url and "/hc/en-us/articles/" in refund.url
    rt = open_runtime(tmp_path)
    assert len(add_documents(rt.store, "acme", docs, prune_prefix="help_center/zd/").added) == 4
    assert add_documents(rt.store, "acme", docs, prune_prefix="help_center/zd/").added == []
    top = rt.retrieve("acme", "when will the refund reach my card")[0]
    assert top.title == "Refund timelines" and top.url == refund.url


def test_resolved_tickets_from_the_replica_carry_no_personal_data(tmp_path: Path, counting: Counting) -> None:
    from deskhand.sync import replica

    rt = open_runtime(tmp_path)
    users = [User(id="c1", name="Jane Doe", email="jane@example.com", role=Role.END_USER),
             User(id="a1", name="Mark Agent", email="mark@corp.test", role=Role.AGENT),
             User(id="bot", name="Deskhand", email="bot@corp.test", role=Role.AGENT)]
    replica.put_directory(rt.store.engine, "zd", users, [Team(id="g1", name="Billing")])
    comments = [
        Comment("1", "42", "My card 4111 1111 1111 1111 was charged twice, call +1 415 555 0132",
                Visibility.PUBLIC, "c1"),
        Comment("2", "42", "Automated: see our refunds article", Visibility.PUBLIC, "bot"),
        Comment("3", "42", "VIP customer, lives at 12 Oak Street", Visibility.INTERNAL, "a1"),
        Comment("4", "42", "Hi Jane, I refunded the duplicate charge to your card. Best, Mark",
                Visibility.PUBLIC, "a1"),
    ]
    solved = Ticket(id="42", subject="Charged twice - jane@example.com", description=comments[0].body,
                    status=Status.SOLVED, raw_status="solved", requester=Contact("c1", "Jane Doe"))
    still_open = Ticket(id="43", subject="Other", description="x", status=Status.OPEN, raw_status="open")
    with rt.store.engine.begin() as conn:
        replica.put_ticket(conn, "zd", "acme", solved, comments, time.time())
        replica.put_ticket(conn, "zd", "acme", still_open, [], time.time())
    pairs = replica_pairs(rt.store.engine, "zd", bot_ids={"bot"})
    assert [p.ticket_id for p in pairs] == ["42"]
    add_resolved_tickets(rt.store, "acme", "zd", pairs)
    chunks = rt.store.chunks("acme")
    assert chunks and all(c["kind"] == "resolved_ticket" for c in chunks)
    stored = " ".join(f"{c['title']} {c['heading'] or ''} {c['text']}" for c in chunks)
    for secret in ("Jane", "Doe", "jane@example.com", "4111", "555 0132", "Mark", "Oak Street", "VIP", "Automated"):
        assert secret not in stored
    top = rt.retrieve("acme", "I was billed two times for one order")[0]
    assert top.kind == "resolved_ticket" and "refunded the duplicate charge" in top.text
