"""Store functions for learned taxonomies (table ``taxonomy_models``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from deskhand.store.store import Store, now
from deskhand.store.tables_llm import taxonomy_models


@dataclass(frozen=True, slots=True)
class StoredTaxonomy:
    account: str
    version: int
    examples: int
    categories: list[str]
    shots: list[tuple[str, str]]
    model: bytes


def save_taxonomy(
    store: Store,
    *,
    account: str,
    tenant_id: str,
    model: bytes,
    categories: Sequence[str],
    examples: int,
    shots: Sequence[tuple[str, str]],
) -> int:
    """Replace the account's taxonomy; returns its new version."""
    with store.transaction() as conn:
        old = conn.execute(
            sa.select(taxonomy_models.c.version).where(taxonomy_models.c.account == account)
        ).scalar_one_or_none()
        version = (old or 0) + 1
        conn.execute(sa.delete(taxonomy_models).where(taxonomy_models.c.account == account))
        conn.execute(
            taxonomy_models.insert().values(
                account=account,
                tenant_id=tenant_id,
                version=version,
                examples=examples,
                categories=list(categories),
                shots=[list(s) for s in shots],
                model=model,
                created_at=now(),
            )
        )
    return version


def taxonomy_version(store: Store, account: str) -> int | None:
    with store.engine.connect() as conn:
        return conn.execute(
            sa.select(taxonomy_models.c.version).where(taxonomy_models.c.account == account)
        ).scalar_one_or_none()


def load_taxonomy(store: Store, account: str) -> StoredTaxonomy | None:
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(taxonomy_models).where(taxonomy_models.c.account == account)).mappings().first()
    if row is None:
        return None
    return StoredTaxonomy(
        account=row["account"],
        version=int(row["version"]),
        examples=int(row["examples"]),
        categories=list(row["categories"]),
        shots=[(str(t), str(c)) for t, c in row["shots"]],
        model=bytes(row["model"]),
    )
