"""engine: per-account overrides of definition arguments (accounts.overrides) (issue 13)

Revision ID: engine_0001
Revises: ops_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "engine_0001"
down_revision = "ops_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("overrides", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("overrides")
