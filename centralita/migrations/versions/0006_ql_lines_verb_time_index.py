"""ql_lines: an index on (pbx_id, verb, time_s) for healing (restarts, recent entries)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 20:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    op.create_index("ix_ql_lines_verb_time", "ql_lines", ["pbx_id", "verb", "time_s"])


def downgrade() -> None:
    """Revert."""
    op.drop_index("ix_ql_lines_verb_time", table_name="ql_lines")
