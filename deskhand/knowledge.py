"""Knowledge sources into the store, re-indexed only where content changed (by content hash).

Three sources, one path: a folder of articles (``add_folder``; a named source, files read and
refused by ``deskhand.knowledge_files``), help-centre articles pulled through a
provider (``add_documents``), and past resolved tickets from the replica turned into scrubbed
problem → resolution pairs (``add_resolved_tickets``, ``replica_pairs``). Each document is stored as
an article with its chunks; an unchanged content hash skips it. The vector index follows the store:
``Runtime.retrieve`` embeds only chunk texts it has no vector for (``deskhand.index.tenants``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from deskhand.errors import ConfigError
from deskhand.knowledge_files import MAX_FILE_BYTES, Skipped, read_folder
from deskhand.store import Store

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from deskhand.ai.scrub import ResolvedPair
    from deskhand.providers.connector import Connector


SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
RESERVED_SOURCES = ("help_center", "tickets")  # prefixes of `kb pull` and `kb tickets`


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    chunks: int = 0
    source: str | None = None
    skipped: list[dict[str, str]] = field(default_factory=list)  # {path, reason}: files refused
    flagged: dict[str, str] = field(default_factory=dict)  # source id → why it is kept out of retrieval


@dataclass(frozen=True, slots=True)
class Document:
    source_id: str
    title: str
    text: str  # markdown (HTML is converted before)
    url: str | None = None
    kind: str = "knowledge_base"  # knowledge_base | resolved_ticket


@dataclass(frozen=True, slots=True)
class FolderPlan:
    """What adding a folder would do, before it does it (``plan_folder`` → show → ``apply_folder``)."""

    tenant_id: str
    source: str
    path: Path
    docs: list[Document]
    skipped: list[Skipped]
    removed: list[str]  # stored articles of this source that the folder no longer has
    previous_path: str | None  # the folder this source held before, when it was another one


def source_name(path: Path) -> str:
    """A folder's default source name: its base name, lower-cased, other characters turned into '-'."""
    slug = re.sub(r"[^a-z0-9_.-]+", "-", path.resolve().name.lower()).strip("-._")[:63]
    return slug or "kb"


def plan_folder(
    store: Store, tenant_id: str, path: Path, *, source: str | None = None, max_bytes: int = MAX_FILE_BYTES
) -> FolderPlan:
    """Read the folder and compare it with the stored source. A derived name that another folder
    already holds is refused (``ConfigError``); naming that source with ``source`` takes it over."""
    from deskhand.store.kb_sources import get_source

    if not path.is_dir():
        raise ConfigError(f"{path} is not a folder of articles (markdown, HTML or text)")
    name = source or source_name(path)
    if not SOURCE_NAME.fullmatch(name) or name in RESERVED_SOURCES:
        raise ConfigError(f"source name {name!r} is not usable: use 1-63 lower-case letters, digits, '.', '-' or "
                          f"'_' (not {' or '.join(RESERVED_SOURCES)}): --source NAME")
    folder = str(path.resolve())
    stored = get_source(store, tenant_id, name)
    previous = stored.path if stored is not None and stored.path != folder else None
    if previous is not None and source is None:
        raise ConfigError(f"source {name!r} already holds {previous}: add {folder} under its own name with "
                          f"--source NAME, or replace that folder's articles with --source {name}")
    articles, skipped = read_folder(path, max_bytes=max_bytes)
    docs = [Document(f"{name}/{a.source_id}", a.title, a.text) for a in articles]
    seen = {d.source_id for d in docs}
    prior = sorted(sid for sid in store.kb_hashes(tenant_id) if sid.startswith(name + "/"))
    if stored is None and prior:
        previous = "articles added before sources were named"
    removed = [sid for sid in prior if sid not in seen]
    return FolderPlan(tenant_id, name, path.resolve(), docs, skipped, removed, previous)


def apply_folder(store: Store, plan: FolderPlan, *, prune: bool = True) -> SyncReport:
    """Store the plan's documents, remove exactly the articles it listed (with ``prune``), and
    remember which folder the source holds."""
    from deskhand.store.kb_sources import save_source

    report = add_documents(store, plan.tenant_id, plan.docs)
    if prune:
        for source_id in plan.removed:
            store.remove_article(plan.tenant_id, source_id)
            report.removed.append(source_id)
    save_source(store, plan.tenant_id, plan.source, str(plan.path))
    report.source = plan.source
    report.skipped = [{"path": s.path, "reason": s.reason} for s in plan.skipped]
    return report


def add_folder(
    store: Store, tenant_id: str, path: Path, *, source: str | None = None, prune: bool = True,
    max_bytes: int = MAX_FILE_BYTES,
) -> SyncReport:
    """Index every article under ``path`` for ``tenant_id`` as source ``source`` (default: the folder's
    name): articles are keyed ``<source>/<relative path>``; with ``prune``, the source's articles
    that disappeared are removed. No confirmation: the CLI shows ``plan_folder`` first."""
    return apply_folder(store, plan_folder(store, tenant_id, path, source=source, max_bytes=max_bytes), prune=prune)


def add_documents(
    store: Store, tenant_id: str, docs: Iterable[Document], *, prune_prefix: str | None = None
) -> SyncReport:
    """Store each document whose content hash changed; with ``prune_prefix``, remove the stored
    documents under that prefix that ``docs`` no longer has."""
    from deskhand import knowledge_reviews
    from deskhand.ai.allowlist import injection_reason
    from deskhand.ai.chunk import Article, chunk_article

    store.ensure_tenant(tenant_id)
    known = store.kb_hashes(tenant_id)
    report = SyncReport()
    seen: set[str] = set()
    for doc in docs:
        seen.add(doc.source_id)
        content_hash = hashlib.sha256(f"{doc.kind}\n{doc.title}\n{doc.url}\n{doc.text}".encode()).hexdigest()
        if known.get(doc.source_id) == content_hash:
            report.unchanged.append(doc.source_id)
            continue
        injected = injection_reason(f"{doc.title}\n{doc.text}")
        if injected:  # stored without chunks: nothing of it can be retrieved; `kb list` says why
            knowledge_reviews.flag(store, tenant_id, doc.source_id, content_hash, injected)
            report.flagged[doc.source_id] = injected
        elif doc.source_id in known:
            knowledge_reviews.clear_flag(store, tenant_id, doc.source_id)
        chunks = [] if injected else [
            {
                "kind": doc.kind,
                "title": ch.title,
                "heading": " > ".join(ch.heading_path) or None,
                "text": ch.text,
                "url": doc.url,
            }
            for ch in chunk_article(Article(doc.source_id, doc.title, doc.text, "markdown"))
        ]
        store.put_article(
            tenant_id, source_id=doc.source_id, title=doc.title[:300], url=doc.url, content_hash=content_hash,
            chunks=chunks,
        )
        report.chunks += len(chunks)
        (report.changed if doc.source_id in known else report.added).append(doc.source_id)
    if prune_prefix is not None:
        for source_id in known:
            if source_id.startswith(prune_prefix) and source_id not in seen:
                store.remove_article(tenant_id, source_id)
                report.removed.append(source_id)
    return report


def add_resolved_tickets(
    store: Store, tenant_id: str, account: str, pairs: Iterable[ResolvedPair], *, prune: bool = True
) -> SyncReport:
    """Scrubbed problem → resolution pairs as ``resolved_ticket`` knowledge (``tickets/<account>/<id>``)."""
    prefix = f"tickets/{account}/"
    docs = [
        Document(f"{prefix}{p.ticket_id}", p.title or f"Ticket {p.ticket_id}", p.text, p.url, "resolved_ticket")
        for p in pairs
    ]
    return add_documents(store, tenant_id, docs, prune_prefix=prefix if prune else None)


def replica_pairs(
    engine: Engine,
    account: str,
    *,
    bot_ids: Iterable[str] = (),
    allowed_hosts: Iterable[str] = (),
    vocabulary: Iterable[str] = (),
) -> list[ResolvedPair]:
    """Pairs of every solved/closed, not deleted ticket the sync replica holds for ``account``;
    staff are the replica's agents and admins, names known to it are scrubbed too. Each pair is
    generalised (``deskhand.ai.generalise``): links outside ``allowed_hosts`` and capitalised words
    outside ``vocabulary`` (the tenant's knowledge base's own words) drop their sentence."""
    from sqlalchemy import select

    from deskhand.ai.scrub import resolved_pair
    from deskhand.model import Comment, Contact, Status, Ticket, Visibility
    from deskhand.store.tables_sync import replica_comments as rc
    from deskhand.store.tables_sync import replica_tickets as rt
    from deskhand.store.tables_sync import replica_users as ru

    with engine.connect() as conn:
        users = {r.id: r for r in conn.execute(select(ru).where(ru.c.account == account))}
        tickets = conn.execute(
            select(rt).where(rt.c.account == account, rt.c.deleted.is_(False), rt.c.status.in_(["solved", "closed"]))
        ).all()
        comments: dict[str, list[Comment]] = {}
        for r in conn.execute(select(rc).where(rc.c.account == account).order_by(rc.c.ticket_id, rc.c.created_at)):
            comments.setdefault(r.ticket_id, []).append(
                Comment(r.id, r.ticket_id, r.body, Visibility(r.visibility), r.author_id)
            )
    hosts, vocab = list(allowed_hosts), frozenset(vocabulary)
    staff = {u.id for u in users.values() if u.role in ("agent", "admin")}
    names = [u.name for u in users.values() if u.name]
    pairs = []
    for t in tickets:
        requester = users.get(t.requester_id)
        ticket = Ticket(
            id=t.id, subject=t.subject, description=t.description, status=Status(t.status), raw_status=t.raw_status,
            requester=Contact(t.requester_id, requester.name if requester else None) if t.requester_id else None,
            comments=tuple(comments.get(t.id, ())),
        )
        pair = resolved_pair(ticket, staff_ids=staff, bot_ids=bot_ids, names=names, allowed_hosts=hosts,
                             vocabulary=vocab)
        if pair is not None:
            pairs.append(pair)
    return pairs


def help_center_documents(connector: Connector) -> list[Document]:
    """Published Help Center articles through the provider definition's ``help_center`` resource
    (``help_center/<account>/<id>``; HTML bodies turned into Markdown; drafts skipped)."""
    from deskhand.ai.chunk import html_to_markdown

    spec = connector.definition.resources.get("help_center")
    if spec is None or spec.list is None:
        raise ConfigError(f"{connector.provider} has no help-centre articles (no resources.help_center.list)")
    reader = connector.readers["help_center"]
    docs = []
    for record in connector.iter_records(spec.list, {}):
        v = reader.values(record)
        if v.get("draft") in (True, "true") or not v.get("id"):
            continue
        text, _ = html_to_markdown(str(v.get("body") or ""))
        title = str(v.get("title") or f"Article {v['id']}")
        docs.append(Document(f"help_center/{connector.account}/{v['id']}", title, f"# {title}\n\n{text}", v.get("url")))
    return docs
