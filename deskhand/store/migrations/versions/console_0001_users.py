"""console: local users of the web console (issue 26)

Revision ID: console_0001
Revises: oauth_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "console_0001"
down_revision = "oauth_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_index("ix_console_users_tenant", "console_users", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_console_users_tenant", table_name="console_users")
    op.drop_table("console_users")
