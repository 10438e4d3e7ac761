"""Reviews of knowledge articles (issue 14): approved derived articles, flagged injections.

An article derived from another customer's solved ticket (``resolved_ticket``) never supports an
automatic public reply on its own: a knowledge-base article must agree with the reply, or a person
must have approved the derived article once (``deskhand kb review`` lists them, ``deskhand kb approve``
marks one). An approval holds for the content it was made on: when ``kb tickets`` rewrites the
article, it is pending again. An article whose text addresses an assistant is ``flagged`` at ingest:
it is stored without chunks (nothing of it can be retrieved) and ``kb list`` shows why.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, insert, select

from deskhand.errors import ConfigError
from deskhand.store import Store
from deskhand.store.schema import kb_articles, kb_chunks
from deskhand.store.store import now
from deskhand.store.tables_security import kb_reviews

APPROVED, FLAGGED = "approved", "flagged"


@dataclass(frozen=True, slots=True)
class Review:
    source_id: str
    title: str
    status: str  # approved | flagged | pending
    reason: str | None = None
    actor: str | None = None


def _put(store: Store, tenant_id: str, source_id: str, status: str, content_hash: str, reason: str | None,
         actor: str) -> None:
    with store.transaction() as c:
        c.execute(delete(kb_reviews).where(kb_reviews.c.tenant_id == tenant_id, kb_reviews.c.source_id == source_id))
        c.execute(insert(kb_reviews).values(tenant_id=tenant_id, source_id=source_id, status=status,
                                            content_hash=content_hash, reason=reason, actor=actor, at=now()))


def flag(store: Store, tenant_id: str, source_id: str, content_hash: str, reason: str) -> None:
    _put(store, tenant_id, source_id, FLAGGED, content_hash, reason, "ingest")


def clear_flag(store: Store, tenant_id: str, source_id: str) -> None:
    with store.transaction() as c:
        c.execute(delete(kb_reviews).where(kb_reviews.c.tenant_id == tenant_id, kb_reviews.c.source_id == source_id,
                                           kb_reviews.c.status == FLAGGED))


def approve(store: Store, tenant_id: str, source_id: str, *, actor: str) -> Review:
    """Mark a derived article approved (for its current content)."""
    with store.engine.connect() as c:
        row = c.execute(
            select(kb_articles).where(kb_articles.c.tenant_id == tenant_id, kb_articles.c.source_id == source_id)
        ).first()
        kind = c.execute(
            select(kb_chunks.c.kind).where(kb_chunks.c.tenant_id == tenant_id, kb_chunks.c.source_id == source_id)
        ).scalar()
    if row is None:
        raise ConfigError(f"tenant {tenant_id!r} has no article {source_id!r}: see `deskhand kb review`")
    if kind != "resolved_ticket":
        raise ConfigError(f"{source_id!r} is not derived from a solved ticket (only those need approval)")
    _put(store, tenant_id, source_id, APPROVED, row.content_hash, None, actor)
    return Review(source_id, row.title, APPROVED, actor=actor)


def approved_ids(store: Store, tenant_id: str) -> set[str]:
    """Derived articles approved for the content they have now."""
    q = (
        select(kb_reviews.c.source_id)
        .join(kb_articles, and_(kb_articles.c.tenant_id == kb_reviews.c.tenant_id,
                                kb_articles.c.source_id == kb_reviews.c.source_id,
                                kb_articles.c.content_hash == kb_reviews.c.content_hash))
        .where(kb_reviews.c.tenant_id == tenant_id, kb_reviews.c.status == APPROVED)
    )
    with store.engine.connect() as c:
        return {r.source_id for r in c.execute(q)}


def reviews(store: Store, tenant_id: str) -> dict[str, Review]:
    """Every article that has a review or needs one: derived articles (approved or pending) and flags."""
    with store.engine.connect() as c:
        articles = {r.source_id: r for r in c.execute(select(kb_articles).where(kb_articles.c.tenant_id == tenant_id))}
        mine = (kb_chunks.c.tenant_id == tenant_id) & (kb_chunks.c.kind == "resolved_ticket")
        derived = {r.source_id for r in c.execute(select(kb_chunks.c.source_id).where(mine))}
        rows = {r.source_id: r for r in c.execute(select(kb_reviews).where(kb_reviews.c.tenant_id == tenant_id))}
    out: dict[str, Review] = {}
    for source_id, article in articles.items():
        row = rows.get(source_id)
        current = row is not None and row.content_hash == article.content_hash
        if row is not None and current and row.status == FLAGGED:
            out[source_id] = Review(source_id, article.title, FLAGGED, row.reason, row.actor)
        elif source_id in derived:
            ok = row is not None and current and row.status == APPROVED
            out[source_id] = Review(source_id, article.title, APPROVED if ok else "pending", None,
                                    row.actor if ok and row is not None else None)
    return out
