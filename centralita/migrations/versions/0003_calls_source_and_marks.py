"""calls: source (ami | queue_log) and marks (values estimated, not observed)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("source", sa.String(16), nullable=False, server_default="ami"))
        batch.add_column(sa.Column("marks", sa.String(200), nullable=False, server_default=""))


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("marks")
        batch.drop_column("source")
