"""console: the audit log of controls changed by people, and why a kill switch was reset (issue 26)

Revision ID: console_0002
Revises: console_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "console_0002"
down_revision = "console_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=True),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("old", sa.Text(), nullable=True),
        sa.Column("new", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_tenant", "audit_log", ["tenant_id", "id"], unique=False)
    op.add_column("kill_switches", sa.Column("reset_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("kill_switches") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("reset_reason")
    op.drop_index("ix_audit_log_tenant", table_name="audit_log")
    op.drop_table("audit_log")
