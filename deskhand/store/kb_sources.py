"""Store functions for named knowledge sources (table ``kb_sources``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from deskhand.store.store import Store, now
from deskhand.store.tables_kb import kb_sources


@dataclass(frozen=True, slots=True)
class KnowledgeSource:
    tenant_id: str
    name: str
    path: str
    updated_at: datetime


def get_source(store: Store, tenant_id: str, name: str) -> KnowledgeSource | None:
    q = sa.select(kb_sources).where(kb_sources.c.tenant_id == tenant_id, kb_sources.c.name == name)
    with store.engine.connect() as conn:
        row = conn.execute(q).first()
    return None if row is None else KnowledgeSource(row.tenant_id, row.name, row.path, row.updated_at)


def list_sources(store: Store, tenant_id: str) -> list[KnowledgeSource]:
    q = sa.select(kb_sources).where(kb_sources.c.tenant_id == tenant_id).order_by(kb_sources.c.name)
    with store.engine.connect() as conn:
        return [KnowledgeSource(r.tenant_id, r.name, r.path, r.updated_at) for r in conn.execute(q)]


def save_source(store: Store, tenant_id: str, name: str, path: str) -> None:
    key = (kb_sources.c.tenant_id == tenant_id, kb_sources.c.name == name)
    with store.transaction() as conn:
        if conn.execute(sa.select(kb_sources.c.name).where(*key)).first() is None:
            conn.execute(kb_sources.insert().values(tenant_id=tenant_id, name=name, path=path, created_at=now(),
                                                    updated_at=now()))
        else:
            conn.execute(kb_sources.update().where(*key).values(path=path, updated_at=now()))
