"""a knowledge version per tenant (issue 25: a query no longer reads every article's hash to learn nothing changed)

Revision ID: kb_0002
Revises: console_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "kb_0002"
down_revision = "console_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kb_versions",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id"),
    )


def downgrade() -> None:
    op.drop_table("kb_versions")
