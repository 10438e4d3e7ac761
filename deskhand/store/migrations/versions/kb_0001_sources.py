"""named knowledge sources (issue 15: `kb add` never silently replaces another folder's articles)

Revision ID: kb_0001
Revises: api_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "kb_0001"
down_revision = "api_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kb_sources",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "name"),
    )


def downgrade() -> None:
    op.drop_table("kb_sources")
