"""merge the autonomy, llm and sync branches into one head

Revision ID: 0002
Revises: autonomy_0001, llm_0001, sync_0001
"""

from __future__ import annotations

revision = "0002"
down_revision = ("autonomy_0001", "llm_0001", "sync_0001")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: the three branches touch different tables; this only joins them."""


def downgrade() -> None:
    """Nothing to undo."""
