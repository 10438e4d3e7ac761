"""Knowledge sources into the store: a folder of articles, re-indexed only where content changed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from deskhand.errors import ConfigError
from deskhand.store import Store


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    chunks: int = 0


def add_folder(store: Store, tenant_id: str, path: Path, *, prune: bool = True) -> SyncReport:
    """Index every article under `path` for `tenant_id`. Articles are keyed `<folder name>/<relative
    path>`; with `prune`, articles of the same folder that disappeared are removed."""
    from deskhand.ai.chunk import chunk_article, load_folder

    if not path.is_dir():
        raise ConfigError(f"{path} is not a folder of articles (markdown, HTML or text)")
    store.ensure_tenant(tenant_id)
    prefix = path.resolve().name
    known = store.kb_hashes(tenant_id)
    report = SyncReport()
    seen: set[str] = set()
    for article in load_folder(path):
        source_id = f"{prefix}/{article.source_id}"
        seen.add(source_id)
        content_hash = hashlib.sha256(f"{article.title}\n{article.text}".encode()).hexdigest()
        if known.get(source_id) == content_hash:
            report.unchanged.append(source_id)
            continue
        chunks = [
            {
                "kind": "knowledge_base",
                "title": ch.title,
                "heading": " > ".join(ch.heading_path) or None,
                "text": ch.text,
                "url": None,
            }
            for ch in chunk_article(article)
        ]
        store.put_article(
            tenant_id,
            source_id=source_id,
            title=article.title,
            url=None,
            content_hash=content_hash,
            chunks=chunks,
        )
        report.chunks += len(chunks)
        (report.changed if source_id in known else report.added).append(source_id)
    if prune:
        for source_id in known:
            if source_id.startswith(prefix + "/") and source_id not in seen:
                store.remove_article(tenant_id, source_id)
                report.removed.append(source_id)
    return report
